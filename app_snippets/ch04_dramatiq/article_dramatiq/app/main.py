# app/main.py
# A typical tutorial's FastAPI + Dramatiq upload app, reproduced as it is printed (notebook 04
# runs it and fixes it; it writes wherever the client's file name points). Unchanged: Redis
# is set in app/dramatiq_worker.py. Start, from the folder holding app/:
#   uvicorn app.main:app --reload
from fastapi import FastAPI, UploadFile, File
from app.dramatiq_worker import resize_image

app = FastAPI()


@app.post("/upload")
async def upload_image(file: UploadFile = File(...)):
    """
    接收上傳圖片後,立刻回傳成功訊息,縮圖工作交給 Dramatiq 處理。
    """
    # 先把檔案寫到暫存目錄
    tmp_path = f"/tmp/{file.filename}"
    with open(tmp_path, "wb") as f:
        content = await file.read()
        f.write(content)

    # 非同步呼叫 Dramatiq actor
    resize_image.send(tmp_path, (200, 200))
    return {"msg": "檔案已上傳,縮圖任務已排程"}
