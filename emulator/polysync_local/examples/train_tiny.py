"""A tiny training job for the demo: linear regression by gradient descent on synthetic data, pure Python.

The Vertex AI emulator runs it (``polysync-vertex demo --execute``) as the container command of the demo's
container template while the job is RUNNING. Its parameters arrive as environment variables, as on Vertex AI:

- ``EPOCHS`` (default 200): passes over the data;
- ``LEARNING_RATE`` (default 0.05): gradient descent step size;
- ``AIP_MODEL_DIR`` (set by Vertex AI from ``baseOutputDirectory``): where the model would be written;
- ``POLYSYNC_OUTPUTS_PATH`` (set by the connector when the run declares Output parameters and an outputs bucket is
  configured): where it writes its Output parameters, here ``FINAL_LOSS``, as one JSON object. On Vertex AI the path
  is under the Cloud Storage FUSE mount ``/gcs/``; the emulator maps it to its Cloud Storage emulator.

It prints the loss as it goes and the learned parameters, and exits 0 when the fit is good (1 otherwise).
"""

from __future__ import annotations

import json
import os
import random
import sys

TRUE_W, TRUE_B = 3.0, -2.0


def synthetic_data(n: int, seed: int = 7) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    points = []
    for _ in range(n):
        x = rng.uniform(-1.0, 1.0)
        points.append((x, TRUE_W * x + TRUE_B + rng.gauss(0.0, 0.1)))
    return points


def train(points: list[tuple[float, float]], epochs: int, learning_rate: float) -> tuple[float, float, float]:
    w = b = 0.0
    n = len(points)
    loss = float("inf")
    report_every = max(1, epochs // 10)
    for epoch in range(1, epochs + 1):
        grad_w = grad_b = loss = 0.0
        for x, y in points:
            err = w * x + b - y
            loss += err * err
            grad_w += 2 * err * x
            grad_b += 2 * err
        loss /= n
        w -= learning_rate * grad_w / n
        b -= learning_rate * grad_b / n
        if epoch % report_every == 0 or epoch == epochs:
            print(f"epoch {epoch:5d}/{epochs}  loss {loss:.5f}", flush=True)
    return w, b, loss


def main() -> int:
    epochs = int(float(os.environ.get("EPOCHS", "200")))
    learning_rate = float(os.environ.get("LEARNING_RATE", "0.05"))
    if epochs < 1 or not 0 < learning_rate < 10:
        print(f"bad parameters: EPOCHS={epochs} LEARNING_RATE={learning_rate}", file=sys.stderr)
        return 2
    print(f"training y = w*x + b on 256 points: EPOCHS={epochs} LEARNING_RATE={learning_rate}", flush=True)
    w, b, loss = train(synthetic_data(256), epochs, learning_rate)
    print(f"learned w={w:.3f} b={b:.3f} (true {TRUE_W}, {TRUE_B}); final loss {loss:.5f}", flush=True)
    outputs_path = os.environ.get("POLYSYNC_OUTPUTS_PATH")
    if outputs_path:  # the chief replica writes the run's Output parameters, once, before it exits
        os.makedirs(os.path.dirname(outputs_path), exist_ok=True)
        with open(outputs_path, "w") as f:
            json.dump({"FINAL_LOSS": round(loss, 6)}, f)
        print(f"outputs written to {outputs_path}", flush=True)
    model_dir = os.environ.get("AIP_MODEL_DIR")
    if model_dir:
        print(f"model would be written to {model_dir}", flush=True)
    return 0 if loss < 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
