"""Evaluate functions the black-box tests of the Python worker run
(tests/python_worker.rs): each does what its job's settings ask, so that
one function covers every case the queue must handle."""
import time

import nas_worker


def scripted(job):
    """Settings: ``sleep_s`` (in steps of 50 ms, checking job.cancelled),
    ``fail_attempts`` (raise RuntimeError on attempts up to it),
    ``permanent`` (raise PermanentError), ``diverge`` (raise Diverged),
    ``report`` (a progress note per step), ``bad_metric`` (return an
    unknown metric), ``huge`` (a result over the queue's cap), ``marker``
    (a file to create when the job starts)."""
    s = job.settings
    if s.get("marker"):
        with open(s["marker"], "a", encoding="utf-8") as f:
            f.write(f"{job.job_id} {job.attempt}\n")
    if job.attempt <= s.get("fail_attempts", 0):
        raise RuntimeError(f"scripted failure on attempt {job.attempt}")
    if s.get("permanent"):
        raise nas_worker.PermanentError("scripted permanent failure")
    steps = int(s.get("sleep_s", 0) / 0.05)
    for step in range(steps):
        if job.cancelled:
            raise nas_worker.Cancelled(job.job_id)
        if s.get("report"):
            job.report({"step": step + 1, "steps": steps})
        time.sleep(0.05)
    if s.get("diverge"):
        raise nas_worker.Diverged("loss is nan at step 3")
    if s.get("bad_metric"):
        return {"val_acc": 50.0, "f1": 0.5}
    out = {"val_acc": 50.0 + job.attempt, "train_seconds": steps * 0.05, "device": "python"}
    if s.get("huge"):
        out["genotype"] = "x" * (70 * 1024)
    return out


def tiny_train(job):
    """Build the candidate with nas_worker.networks, train it two steps on
    random data, and report its parameter count."""
    import torch

    from nas_worker import networks

    torch.manual_seed(job.seed)
    s = job.settings
    model = networks.build_for_job(job.space, job.genotype, **s.get("build", {}))
    shape = s["input"]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    table = s.get("build", {}).get("table") or {}
    numeric = table.get("numeric", 0)
    for _ in range(2):
        x = torch.randn(4, *shape)
        if table.get("categorical"):
            x[:, numeric:] = 0.0  # a valid code of every categorical column
        out = model(x)
        logits = out[0] if isinstance(out, tuple) else out
        loss = torch.nn.functional.cross_entropy(logits, torch.randint(0, logits.shape[1], (4,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"val_acc": 10.0, "params": networks.count_params(model), "device": "cpu"}
