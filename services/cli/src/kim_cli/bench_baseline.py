"""The minimal write path `kim bench latency` compares against: FastAPI + asyncpg, one INSERT per request.

    KIM_BENCH_BASELINE_DSN=postgresql://... KIM_BENCH_BASELINE_PORT=18123 python -m kim_cli.bench_baseline

POST /rows inserts one row (a JSON body) and answers 201 with its id; GET /readyz answers 200 once the pool is up.
"""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager

import asyncpg
import uvicorn
from fastapi import FastAPI, Request


@asynccontextmanager
async def _lifespan(app: FastAPI):
    app.state.pool = await asyncpg.create_pool(os.environ["KIM_BENCH_BASELINE_DSN"], min_size=2, max_size=10)
    async with app.state.pool.acquire() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS rows (id bigserial PRIMARY KEY, body jsonb NOT NULL, "
                           "created_at timestamptz NOT NULL DEFAULT now())")
    yield
    await app.state.pool.close()


app = FastAPI(lifespan=_lifespan)


@app.get("/readyz")
async def readyz() -> dict:
    return {"status": "ready"}


@app.post("/rows", status_code=201)
async def insert(request: Request) -> dict:
    body = await request.json()
    row_id = await request.app.state.pool.fetchval("INSERT INTO rows (body) VALUES ($1::jsonb) RETURNING id",
                                                   json.dumps(body))
    return {"id": row_id}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["KIM_BENCH_BASELINE_PORT"]), log_level="warning")
