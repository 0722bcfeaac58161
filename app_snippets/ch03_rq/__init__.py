"""Chapter 03: RQ, its jobs, cron, dashboard and pickle payloads; the tutorial's RQ app
reproduced (article_rq/, article_rq_step1/) and fixed (article_rq_fixed/)."""
