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

    def test_mixed_plans_and_jobs_take_a_sensitivity_table(self):
        # Without a table the server assumes sensitivities, and says so; with
        # one (a dict, a calibrate JSON file or the message) it does not.
        table = {"model": "resnet20", "batchSize": "16", "batches": "2",
                 "tensors": [{"tensor": "layer1.0.bn1", "error2": 0.1, "error4": 0.01, "error8": 0.001}]}
        assumed = self.client.plan("resnet20", batch=16, strategies=["mixed"]).plans[0].choice
        self.assertIn("sensitivities assumed", assumed)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump(table, f)
            f.flush()
            for given in (table, f.name):
                choice = self.client.plan("resnet20", batch=16, strategies=["mixed"], sensitivity=given).plans[0].choice
                self.assertNotIn("sensitivities assumed", choice)
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write("not json")
            f.flush()
            with self.assertRaisesRegex(ValueError, "not a sensitivity table"):
                self.client.plan("resnet20", batch=16, strategies=["mixed"], sensitivity=f.name)
        bad = {"tensors": [{"tensor": "layer1.0.bn1", "error2": 0.1, "error4": -1, "error8": 0.001}]}
        with self.assertRaises(grpc.RpcError) as e:
            self.client.plan("resnet20", batch=16, strategies=["mixed"], sensitivity=bad)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("sensitivity.tensors[0].error4", e.exception.details())
        job = self.client.submit(model="resnet20", dataset="synthetic", strategy="mixed", batch=8, steps=1,
                                 sensitivity=table)
        self.assertEqual(job.spec.sensitivity.tensors[0].tensor, "layer1.0.bn1")
        self.client.cancel(job.id)

    def test_arena_exact_seconds(self):
        # DenseNet-BC-100's approx8 plan is packed at its bound by the search (1 s by default), not without it.
        plans = {s: self.client.plan("densenet_bc_100", batch=128, strategies=["approx8"], device="h200",
                                     arena_exact_seconds=s).plans[0] for s in (0, None)}
        self.assertEqual(plans[0].arena_exact_search, "off")
        self.assertEqual(plans[None].arena_exact_search, "proved it optimal")
        self.assertLess(plans[None].arena_bytes, plans[0].arena_bytes)
        with self.assertRaises(grpc.RpcError) as e:
            self.client.plan("resnet20", batch=8, arena_exact_seconds=61)
        self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("arena_exact_seconds must be in [0, 60], got 61", e.exception.details())

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
