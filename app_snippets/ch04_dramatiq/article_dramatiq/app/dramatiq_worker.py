# app/dramatiq_worker.py
# A typical tutorial's Dramatiq actor, reproduced as it is printed (notebook 04 runs it and
# fixes it). One change: where Redis lives (the tutorial: RedisBroker(host="localhost",
# port=6379, db=0); here REDIS_URL). Start, from the folder holding app/:
#   dramatiq app.dramatiq_worker
import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

redis_broker = RedisBroker(url=os.environ["REDIS_URL"])  # the tutorial: host="localhost", ...
dramatiq.set_broker(redis_broker)


@dramatiq.actor
def resize_image(image_path: str, size: tuple):
    """
    假裝執行圖像縮放,實務上會呼叫 Pillow 或 OpenCV。
    """
    import time, logging
    logging.info(f"Resizing {image_path} to {size}")
    time.sleep(4)
    logging.info(f"Resize completed for {image_path}")
