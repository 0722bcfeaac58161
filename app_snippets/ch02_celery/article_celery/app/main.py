# app/main.py
# A typical tutorial's FastAPI + Celery example, reproduced as it is printed (notebook 02
# runs it and fixes it). One change: where Redis lives. The tutorial hard-codes
# broker="redis://localhost:6379/0" and backend="redis://localhost:6379/1"; here both
# come from REDIS_URL, the workbook's own Redis. Start, from the folder holding app/:
#   celery -A app.main.celery_app worker --loglevel=info
#   uvicorn app.main:app --reload
import os

from fastapi import FastAPI, BackgroundTasks
from celery import Celery

# 建立 Celery 實例
celery_app = Celery(
    "worker",
    broker=os.environ["REDIS_URL"],  # the tutorial: "redis://localhost:6379/0"
    backend=os.environ["REDIS_URL"],  # the tutorial: "redis://localhost:6379/1"
)

app = FastAPI()


@celery_app.task
def send_welcome_email(user_id: int, email: str):
    """
    假裝寄送驗證信,實務上會呼叫外部 SMTP 服務。
    """
    import time, logging
    time.sleep(5)  # 模擬耗時
    logging.info(f"Sent welcome email to {email} (user_id={user_id})")
    return {"status": "sent", "user_id": user_id}


@app.post("/register")
async def register(username: str, email: str, background: BackgroundTasks):
    """
    註冊 API:立即回應,背景任務交給 Celery 處理。
    """
    # 這裡應該寫入 DB,省略
    # 透過 Celery 非同步執行
    send_welcome_email.delay(user_id=123, email=email)
    # 若想同時使用 FastAPI 原生 BackgroundTasks,可寫 background.add_task(...)
    return {"msg": "註冊成功,驗證信已寄出"}
