"""Screenshots of the dashboard's pages for docs/USER_GUIDE.md.

Run by bench/dashboard_screenshots.sh, which starts a server and sets
SLIMTRAIN_SERVER, SLIMTRAIN_TOKEN_FILE (its admin token), DASHBOARD_URL and
OUT (the folder for the PNGs). Submits a few jobs with the Python client,
then writes OUT/dashboard-{login,jobs,job,plan,devices}.png with
tests/testing/chromium.py, each checked not to be one colour.
"""
import os
import sys
import time

from chromium import Browser, login, read_token
from png_check import check_not_blank
from slimtrain_client import Client

BASE = os.environ["DASHBOARD_URL"].rstrip("/")
OUT = os.environ["OUT"]


def submit(client, name, model, steps, strategy="approx4", dataset="fashion-mnist", batch=64):
    """Submits a job with a display name, evaluating every 100 steps; returns its id."""
    return client.submit(model=model, dataset=dataset, strategy=strategy, batch=batch, steps=steps,
                         learning_rate=0.05, name=name, eval_every=100).id


def main():
    client = Client()
    done = submit(client, "fmnist resnet, approx4, 40 steps", "fmnist_resnet", 40)
    for _ in client.watch(done):
        pass
    running = submit(client, "fmnist resnet, approx4", "fmnist_resnet", 3000)
    submit(client, "fmnist resnet, exact (queued)", "fmnist_resnet", 200, strategy="exact")
    submit(client, "resnet164, approx2 (queued)", "resnet164", 100, strategy="approx2", dataset="synthetic",
           batch=128)
    shots = []
    with Browser(width=1280, height=900, timeout=60) as b:
        b.navigate(BASE + "/login")
        shots.append(b.screenshot(os.path.join(OUT, "dashboard-login.png")))
        login(b, BASE, read_token(os.environ["SLIMTRAIN_TOKEN_FILE"]))
        b.wait_for("document.querySelector('table#jobs tr.job')", what="a job on /jobs")
        shots.append(b.screenshot(os.path.join(OUT, "dashboard-jobs.png")))
        b.navigate(f"{BASE}/jobs/{running}")
        b.wait_for("+(document.querySelector('svg#curve-loss polyline') || {getAttribute: () => 0})"
                   ".getAttribute('data-count') >= 150", timeout=120, what="150 points on the loss curve")
        shots.append(b.screenshot(os.path.join(OUT, "dashboard-job.png"), full_page=True))
        b.navigate(f"{BASE}/plan?model=resnet164&batch=128&budget=1024&device=cpu")
        b.wait_for("document.querySelector('table#strategies')", what="the explorer's table#strategies")
        shots.append(b.screenshot(os.path.join(OUT, "dashboard-plan.png"), full_page=True))
        b.navigate(BASE + "/devices")
        shots.append(b.screenshot(os.path.join(OUT, "dashboard-devices.png")))
    client.cancel(running)
    for path in shots:
        width, height, colours = check_not_blank(path)
        print(f"{path}: {width}x{height}, {colours} colours")
    return 0


if __name__ == "__main__":
    sys.exit(main())
