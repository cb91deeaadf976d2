"""How a Qdrant server or cluster holds the served collection, over its REST API (cheap enough for /ready).

Four GET requests: ``/cluster`` (peers; "disabled" on a single node), ``/aliases`` (the collection behind
the alias), ``/collections/{name}`` (its shard number, replication factor and write consistency factor) and
``/collections/{name}/cluster`` (each shard replica's state; the node asked counts the points of its own
shards). A shard with no active replica makes the store not ready; a replica down, a replication factor
larger than the cluster or a write consistency factor no write can meet are warnings (the collection still
serves, without the guarantees the settings ask for): `/ready` and `jindan doctor` show both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from jindan.settings import QdrantSettings


@dataclass(frozen=True)
class ShardReplica:
    shard_id: int
    peer_id: int | None
    state: str  # Active, Dead, Partial, Initializing, Listener, ...
    points: int | None  # counted by the node asked, for its own (local) replicas only


@dataclass(frozen=True)
class ClusterView:
    peers: int  # 1: a single node (cluster mode disabled)
    alias: str
    collection: str | None  # None: not created yet (first index or migration pending)
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    replicas: tuple[ShardReplica, ...] = ()

    @property
    def inactive(self) -> list[ShardReplica]:
        return [r for r in self.replicas if r.state != "Active"]

    @property
    def unserved(self) -> list[int]:
        """Shards with no active replica: searches miss their points, writes to them fail."""
        shards = {r.shard_id for r in self.replicas}
        return sorted(s for s in shards if all(r.state != "Active" for r in self.replicas if r.shard_id == s))

    def problems(self, settings: QdrantSettings) -> list[str]:
        """What makes the collection unusable (not ready)."""
        if self.unserved:
            return [f"shard(s) {', '.join(map(str, self.unserved))} have no active replica"]
        return []

    def warnings(self, settings: QdrantSettings) -> list[str]:
        """What still serves but loses the cluster's guarantees (doctor shows them; /ready stays up)."""
        found = []
        if self.inactive:
            shown = ", ".join(f"shard {r.shard_id} on peer {r.peer_id}: {r.state}" for r in self.inactive[:4])
            found.append(f"{len(self.inactive)} shard replica(s) not active ({shown})")
        wanted = self.replication_factor or settings.replication_factor
        if wanted > self.peers:
            found.append(f"replication factor {wanted} needs {wanted} peers; the cluster has {self.peers}")
        consistency = self.write_consistency_factor or settings.write_consistency_factor
        if consistency > wanted:
            found.append(f"write consistency factor {consistency} > replication factor {wanted}: writes fail")
        return found

    def line(self, settings: QdrantSettings) -> str:
        peers = "single node" if self.peers == 1 else f"{self.peers} peers"
        ordering = f"ordering {settings.write_ordering}"
        if self.collection is None:
            return (
                f"{peers}; no collection behind '{self.alias}' yet (new ones: {settings.shard_number} shard(s) x "
                f"{settings.replication_factor} replica(s), write consistency {settings.write_consistency_factor}, "
                f"{ordering})"
            )
        active = len(self.replicas) - len(self.inactive)
        text = (
            f"{peers}; {self.alias} -> {self.collection}: {self.shard_number} shard(s) x {self.replication_factor} "
            f"replica(s) ({active}/{len(self.replicas)} active), write consistency "
            f"{self.write_consistency_factor}, {ordering}"
        )
        configured = (settings.shard_number, settings.replication_factor, settings.write_consistency_factor)
        if configured != (self.shard_number, self.replication_factor, self.write_consistency_factor):
            text += (
                f" (settings say {configured[0]} x {configured[1]}, consistency {configured[2]}: "
                "they apply to collections created from now on)"
            )
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "peers": self.peers,
            "alias": self.alias,
            "collection": self.collection,
            "shard_number": self.shard_number,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency_factor,
            "replicas": [r.__dict__ for r in self.replicas],
        }


def _result(client: httpx.Client, path: str) -> Any:
    r = client.get(path)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r.json()["result"]


def fetch(client: httpx.Client, alias: str) -> ClusterView:
    """The cluster and the collection behind ``alias`` (a client whose base_url is the Qdrant REST URL)."""
    cluster = _result(client, "/cluster") or {}
    peers = len(cluster.get("peers") or {}) if cluster.get("status") == "enabled" else 1
    aliases = (_result(client, "/aliases") or {}).get("aliases", [])
    name = next((a["collection_name"] for a in aliases if a["alias_name"] == alias), alias)
    info = _result(client, f"/collections/{name}")
    if info is None:
        return ClusterView(max(peers, 1), alias, None)
    params = info["config"]["params"]
    layout = _result(client, f"/collections/{name}/cluster") or {}
    here = layout.get("peer_id")
    replicas = [
        ShardReplica(s["shard_id"], here, s.get("state", "Active"), s.get("points_count"))
        for s in layout.get("local_shards", [])
    ] + [
        ShardReplica(s["shard_id"], s.get("peer_id"), s.get("state", "Active"), None)
        for s in layout.get("remote_shards", [])
    ]
    return ClusterView(
        max(peers, 1),
        alias,
        name,
        params.get("shard_number", 1),
        params.get("replication_factor", 1),
        params.get("write_consistency_factor", 1),
        tuple(sorted(replicas, key=lambda r: (r.shard_id, r.peer_id or 0))),
    )


def check(settings: QdrantSettings, alias: str, timeout_s: float = 2.0) -> tuple[bool, str]:
    """Readiness of the Qdrant server or cluster: reachable, every replica of the collection active."""
    key = settings.api_key.get_secret_value() if settings.api_key else None
    headers = {"api-key": key} if key else {}
    url = settings.url.rstrip("/")
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=timeout_s) as client:
            ready = client.get("/readyz")
            if ready.status_code >= 400:
                return False, f"{url} answered {ready.status_code} on /readyz"
            view = fetch(client, alias)
    except httpx.HTTPError as exc:
        return False, f"{url} unreachable ({type(exc).__name__}); is the server running?"
    except (KeyError, TypeError, ValueError) as exc:
        return False, f"{url}: unexpected answer ({type(exc).__name__}: {exc})"
    problems = view.problems(settings)
    notes = problems + [f"warning: {w}" for w in view.warnings(settings)]
    return (not problems), f"{url}: {view.line(settings)}" + "".join(f"; {n}" for n in notes)
