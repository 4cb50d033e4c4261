#!/usr/bin/python3
"""Example: plan, train and download with slimtrain's Python client.

    bazel build //client/python:stubs
    PYTHONPATH=client/python:bazel-bin/client/python/gen \
      SLIMTRAIN_SERVER=127.0.0.1:50051 SLIMTRAIN_TOKEN_FILE=~/.local/state/slimtrain/tokens \
      /usr/bin/python3 client/python/example.py
"""
import sys

from proto import job_pb2
from slimtrain_client import Client


def main():
    client = Client()
    plans = client.plan("resnet164", batch=128, strategies=["exact", "approx4"])
    for p in plans.plans:
        print(f"resnet164 {p.strategy:8s} peak {p.peak_bytes / 2**20:8.1f} MiB")
    job = client.submit(model="fmnist_resnet", dataset="fashion-mnist", strategy="approx4", batch=128, steps=100)
    print(f"submitted {job.id}")
    for event in client.watch(job.id):
        if event.HasField("metrics") and event.metrics.step % 20 == 0 and not event.metrics.has_eval:
            print(f"step {event.metrics.step}: loss {event.metrics.loss:.4f}")
        if event.HasField("state_change"):
            print(f"{job_pb2.Job.State.Name(event.state_change.to)}: {event.state_change.reason}")
    step = client.download(job.id, f"{job.id}.safetensors")
    print(f"weights of step {step} in {job.id}.safetensors")
    return 0 if client.get(job.id).state == job_pb2.Job.SUCCEEDED else 1


if __name__ == "__main__":
    sys.exit(main())
