"""The Python client (client/python/slimtrain_client.py) against the real server.

Run by python_client_test.sh, which starts the server and sets
SLIMTRAIN_SERVER and SLIMTRAIN_TOKEN_FILE.
"""
import os
import struct
import json
import tempfile
import unittest

import grpc

from proto import job_pb2
from slimtrain_client import Client


class PythonClientTest(unittest.TestCase):
    def setUp(self):
        self.client = Client()

    def test_plan(self):
        plans = self.client.plan("resnet20", batch=16, strategies=["exact", "approx4"])
        self.assertEqual([p.strategy for p in plans.plans], ["exact", "approx4"])
        self.assertLess(plans.plans[1].peak_bytes, plans.plans[0].peak_bytes)

    def test_onnx_model_plans_and_trains(self):
        # PyTorch's training-mode export of a small CNN (tests/fuzz/corpus/model/tiny_cnn.onnx), by path.
        path = "tests/fuzz/corpus/model/tiny_cnn.onnx"
        plans = self.client.plan(path, batch=8, strategies=["exact"])
        self.assertEqual(plans.plans[0].parameter_count, 279)
        job = self.client.submit(model=path, dataset="synthetic", strategy="exact", batch=8, steps=3)
        self.assertEqual(job.spec.model.onnx.size_bytes, os.path.getsize(path))
        self.assertEqual(job.spec.model.onnx.model, b"")
        events = list(self.client.watch(job.id))
        self.assertEqual(events[-1].state_change.to, job_pb2.Job.SUCCEEDED)
        with self.assertRaisesRegex(ValueError, "not an ONNX model"):
            self.client.plan(__file__, batch=8)

    def test_submit_watch_download(self):
        job = self.client.submit(model="fmnist_resnet", dataset="fashion-mnist", strategy="approx4", batch=32,
                                 steps=8)
        self.assertEqual(job.state, job_pb2.Job.PENDING)
        events = list(self.client.watch(job.id))
        self.assertEqual([e.sequence for e in events], list(range(1, len(events) + 1)))
        self.assertEqual(events[-1].state_change.to, job_pb2.Job.SUCCEEDED)
        steps = [e.metrics.step for e in events if e.HasField("metrics") and not e.metrics.has_eval]
        self.assertEqual(steps, list(range(1, 9)))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "w.safetensors")
            self.assertEqual(self.client.download(job.id, path), 8)
            with open(path, "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
            self.assertIn("conv1.weight", header)
            self.assertIn("fc.bias", header)

    def test_data_parallel_plan_and_buffers(self):
        one = self.client.plan("resnet20", batch=16, strategies=["approx4"], include_buffers=True).plans[0]
        self.assertGreater(len(one.buffers), 0)
        two = self.client.plan("resnet20", batch=16, strategies=["approx4"], ranks=2, bucket_bytes=1 << 20).plans[0]
        self.assertEqual(len(two.buffers), 0)
        self.assertEqual(two.ranks, 2)
        self.assertGreater(two.peak_bytes, one.peak_bytes)  # its gradient buckets

    def test_named_job_listed_then_deleted(self):
        job = self.client.submit(model="fmnist_resnet", dataset="fashion-mnist", batch=32, steps=2,
                                 name="<named> job")
        self.assertEqual(job.spec.display_name, "<named> job")
        self.assertIn(job.id, [j.id for j in self.client.list()])
        self.assertNotIn(job.id, [j.id for j in self.client.list([job_pb2.Job.FAILED])])
        events = list(self.client.watch(job.id))
        self.assertEqual(events[-1].state_change.to, job_pb2.Job.SUCCEEDED)
        self.client.delete(job.id)
        self.assertNotIn(job.id, [j.id for j in self.client.list()])

    def test_errors_carry_the_servers_code_and_message(self):
        with self.assertRaises(grpc.RpcError) as e:
            self.client.get("job-999999")
        self.assertEqual(e.exception.code(), grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(grpc.RpcError) as e:
            Client(token="not-a-valid-token-at-all").get("job-000001")
        self.assertEqual(e.exception.code(), grpc.StatusCode.UNAUTHENTICATED)
        with self.assertRaises(grpc.RpcError) as e:
            self.client.plan("resnet20", batch=0)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("batch_size", e.exception.details())


if __name__ == "__main__":
    unittest.main()
