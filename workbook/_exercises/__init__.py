"""The exercise engine: metadata, progress, the test run, the verdict, and how it is shown.

Imports go one way (tests/test_imports.py proves there is no circle), from the bottom up:

    files      paths relative to the repository, the committed (git) copy of a file
    model      Verdict (and its exit code), Meta: exercises/exercises.toml, validated
    progress   .workbook/progress.json: verdicts, hints seen; git restore of stub and tests
    quick      verdicts known without the tests: the untouched stub, a file that won't compile
    plugin     the pytest plugin in the test process (signed record); standard library only
    supervise  the test process's supervisor, run as a script; standard library and psutil
    check_server   the kernel's warm server that forks test processes; standard library only
    shared_server  the shell's: one per repository, outliving each `workbook check` command
    run        one test process: environment, output limits, the supervisor, the signature
    judge      the verdict's sentence from what the run left
    view       one palette and one bordered box, rich (HTML) and plain
    result     CheckResult: a verdict, its tally, rendered by view
    check      check(): quick verdict or run, then judge, then record
    notebook   wb.exercise / wb.exercises
    cli        `workbook exercises | check | hint | solution | reset | watch`

This package imports nothing at load time: the test process loads `plugin` alone.
"""
