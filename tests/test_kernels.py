"""Kernelspecs in another env's own Jupyter data dir (`<env>/share/jupyter`, where Jupyter runs
from a dedicated env or base) follow the env they start, like user-level ones."""

from __future__ import annotations

import json


def test_env_local_kernelspec_of_another_env_follows_its_env(make_env, conda_run):
    lab = make_env("lab", "alpha")  # the env Jupyter runs from
    work = make_env("work", "gamma")  # the env the kernel starts
    kernel_dir = lab / "share" / "jupyter" / "kernels" / "work"
    kernel_dir.mkdir(parents=True)
    spec = {"argv": [f"{work}/bin/python", "-m", "ipykernel_launcher"], "display_name": "work"}
    (kernel_dir / "kernel.json").write_text(json.dumps(spec))

    removed = conda_run("env", "remove", "-n", "work", "-y")
    assert removed.returncode == 0, removed.stderr

    assert not kernel_dir.exists()  # Jupyter in `lab` no longer offers a dead kernel
    snapshots = json.loads(conda_run("envguard", "list", "-n", "work", "--json").stdout)[
        "snapshots"
    ]
    shown = json.loads(conda_run("envguard", "show", snapshots[-1]["id"], "--json").stdout)
    assert [k["name"] for k in shown["kernels"]] == ["work"]

    undone = conda_run("envguard", "undo", "work", "-y")
    assert undone.returncode == 0, undone.stderr

    assert json.loads((kernel_dir / "kernel.json").read_text()) == spec


def test_an_envs_own_kernelspecs_stay_inside_it(make_env, conda_run):
    work = make_env("work", "gamma")
    own = work / "share" / "jupyter" / "kernels" / "python3"
    own.mkdir(parents=True)
    (own / "kernel.json").write_text(json.dumps({"argv": [f"{work}/bin/python"]}))

    assert conda_run("env", "remove", "-n", "work", "-y").returncode == 0
    # not recorded as a kernel to take out of Jupyter: it moves with the env, as a file of it
    snapshots = json.loads(conda_run("envguard", "list", "-n", "work", "--json").stdout)[
        "snapshots"
    ]
    shown = json.loads(conda_run("envguard", "show", snapshots[-1]["id"], "--json").stdout)
    assert shown["kernels"] == []
    assert conda_run("envguard", "undo", "work", "-y").returncode == 0

    assert json.loads((own / "kernel.json").read_text()) == {"argv": [f"{work}/bin/python"]}
