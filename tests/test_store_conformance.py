"""The CheckpointStore contract. Every backend must pass these tests: add it to the
`store_factory` parameters."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import CairnError, WorkflowExists, WorkflowNotFound
from cairn.store import CheckpointStore, FileStore

StoreFactory = Callable[[Path], CheckpointStore]


def _file_store(root: Path) -> CheckpointStore:
    return FileStore(root, lock_timeout=2.0)


@pytest.fixture(params=[_file_store], ids=["file"])
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    factory: StoreFactory = request.param
    return factory


@pytest.fixture
def store(store_factory: StoreFactory, tmp_path: Path) -> CheckpointStore:
    return store_factory(tmp_path / "artifacts")


def rec(seq: int, wid: str = "wf-a", ctype: str = "agent_completion", **extra: Any) -> dict[str, Any]:
    return {"workflow_id": wid, "seq": seq, "checkpoint_type": ctype, "payload": f"v{seq}", **extra}


def ident(r: dict[str, Any]) -> dict[str, Any]:
    return r


def test_create_then_exists_and_load(store: CheckpointStore) -> None:
    assert not store.exists("wf-a")
    store.create("wf-a", rec(1, ctype="created"))
    assert store.exists("wf-a")
    loaded = store.load("wf-a", ident)
    assert loaded.value == rec(1, ctype="created")
    assert loaded.warnings == [] and not loaded.rolled_forward


def test_create_twice_raises_workflow_exists(store: CheckpointStore) -> None:
    store.create("wf-a", rec(1))
    with pytest.raises(WorkflowExists) as info:
        store.create("wf-a", rec(1, payload="other"))
    assert info.value.workflow_id == "wf-a"
    assert store.load("wf-a", ident).value["payload"] == "v1"


def test_put_makes_new_latest_and_keeps_history(store: CheckpointStore) -> None:
    store.create("wf-a", rec(1, ctype="created"))
    with store.lock("wf-a"):
        store.put("wf-a", rec(2))
        store.put("wf-a", rec(3, ctype="pause"))
    assert store.load("wf-a", ident).value == rec(3, ctype="pause")
    hist = store.history("wf-a")
    assert [(h.seq, h.checkpoint_type) for h in hist] == [
        (1, "created"), (2, "agent_completion"), (3, "pause")]
    assert store.load_seq("wf-a", 2) == rec(2)
    assert store.load_seq("wf-a", 1) == rec(1, ctype="created")


def test_put_never_overwrites_a_history_entry(store: CheckpointStore) -> None:
    store.create("wf-a", rec(1))
    with store.lock("wf-a"):
        store.put("wf-a", rec(2))
        with pytest.raises(CairnError):
            store.put("wf-a", rec(2, payload="clobber"))
    assert store.load_seq("wf-a", 2)["payload"] == "v2"


def test_load_seq_unknown_raises(store: CheckpointStore) -> None:
    store.create("wf-a", rec(1))
    with pytest.raises(CairnError):
        store.load_seq("wf-a", 99)


def test_list_ids_sorted_and_delete(store: CheckpointStore) -> None:
    assert store.list_ids() == []
    for wid in ("wf-c", "wf-a", "wf-b"):
        store.create(wid, rec(1, wid=wid))
    assert store.list_ids() == ["wf-a", "wf-b", "wf-c"]
    store.delete("wf-b")
    assert store.list_ids() == ["wf-a", "wf-c"]
    assert not store.exists("wf-b")
    with pytest.raises(WorkflowNotFound):
        store.load("wf-b", ident)


def test_unknown_workflow(store: CheckpointStore) -> None:
    with pytest.raises(WorkflowNotFound) as info:
        store.load("wf-missing", ident)
    assert info.value.workflow_id == "wf-missing"
    assert info.value.hint
    with pytest.raises(WorkflowNotFound):
        store.delete("wf-missing")
    assert store.history("wf-missing") == []


def test_validator_result_is_returned(store: CheckpointStore) -> None:
    store.create("wf-a", rec(1))
    loaded = store.load("wf-a", lambda r: (r["seq"], r["payload"]))
    assert loaded.value == (1, "v1")


def test_deleted_id_can_be_created_again(store: CheckpointStore) -> None:
    store.create("wf-a", rec(1))
    store.delete("wf-a")
    store.create("wf-a", rec(1, payload="fresh"))
    assert store.load("wf-a", ident).value["payload"] == "fresh"
    assert [h.seq for h in store.history("wf-a")] == [1]
