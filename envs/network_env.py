"""A supply network on a directed acyclic graph; the paper's 2x3 network is one preset.

Each node is an agent. It buys from each of its suppliers (its in-edges, in the config's order): its
action is one quantity per supplier. Outside sources (supplier names starting with ``outside``) always
deliver in full. Edges have their own lead time and per-unit shipping cost (paid by the receiver on the
quantity actually shipped). A node may also serve one customer demand stream directly.

One period, every node acting on the state at the end of the previous period:

1. What each customer of node s asks for: a customer node's order to s this period plus what s still
   owes it; a customer stream's demand (plus what is owed to it, unless sales are lost there).
2. Available = on-hand + head of the node's pipeline.
3. A node short of stock splits it by its allocation rule (``last_customer_first``: the paper's rule,
   the last customer in the list is served first; ``first_customer_first``; ``proportional``: shares
   rounded down, the units left over served in last-first order). A node's customer list is its
   customer stream (if any) followed by its out-edges in config order.
4. Unmet demand is owed (backlog) or lost (``lost_sales``); either way it is charged once per period
   at the shortage cost (owed units are charged again each period they stay owed).
5. Every pipeline advances one slot; a shipment on an edge of lead time L lands in slot L-1.
6. Cost = holding * on-hand + shortage * unmet (owed or lost) + shipping cost of what was received.

Observation (raw units, divided by ``max_order_per_supplier``): on-hand, units owed to customers,
demand seen this period (new orders + customer demand), pipeline slots; opt-in: inventory position,
units owed by the suppliers, fraction of the episode left.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from envs.base_env import BatchedInventoryEnv, DemandSampler
from envs.supply_graph import SupplyGraph
from utils.config import EnvConfig, NetworkConfig, NetworkEdgeConfig, NetworkNodeConfig
from utils.errors import UserError


def paper_2x3_network() -> NetworkConfig:
    """Liu et al.'s network: 3 levels x 2 nodes; each node buys from both nodes above it (node 0 slow and
    cheap: lead 4, 0.1 per unit; node 1 fast and dear: lead 2, 0.2 per unit); retailers lose unmet demand.
    Agent index = 2 * level + node, level 0 = retailers."""
    level_names = ["retailer", "middle", "top"]
    nodes = [
        NetworkNodeConfig(
            name=f"{level_names[level]}_{j}",
            holding_cost=1.0,
            shortage_cost=1.0,
            initial_on_hand=2,
            initial_pipeline=2,
            customer_stream=j if level == 0 else -1,
            lost_sales=level == 0,
        )
        for level in range(3)
        for j in range(2)
    ]
    edges = []
    for level in range(3):
        for j in range(2):
            customer = f"{level_names[level]}_{j}"
            above = ["outside_slow", "outside_fast"] if level == 2 else [f"{level_names[level + 1]}_{u}" for u in range(2)]
            edges.append(NetworkEdgeConfig(supplier=above[0], customer=customer, lead_time=4, shipping_cost=0.1))
            edges.append(NetworkEdgeConfig(supplier=above[1], customer=customer, lead_time=2, shipping_cost=0.2))
    return NetworkConfig(preset="custom", nodes=nodes, edges=edges, max_order_per_supplier=4, allocation="last_customer_first")


def resolve_network(config: NetworkConfig) -> NetworkConfig:
    """The network a config describes: the preset's nodes and edges, keeping its order cap and allocation rule."""
    if config.preset == "paper_2x3":
        net = paper_2x3_network()
        net.max_order_per_supplier = config.max_order_per_supplier
        net.allocation = config.allocation
        return net
    return config


class NetworkEnv(BatchedInventoryEnv):
    """Batched DAG supply network; see the module docstring for the exact period."""

    def __init__(
        self,
        config: EnvConfig | None = None,
        n_envs: int = 1,
        demand_sampler: DemandSampler | None = None,
        seed: int | None = None,
    ) -> None:
        config = config or EnvConfig(kind="network")
        net = resolve_network(config.network)
        super().__init__(n_envs, config, demand_sampler, seed)
        self._build_graph(net)
        self.allocation = net.allocation
        self.reset_customer_demand = 0  # as the nodes' "demand seen" at reset
        self._init_observation(config, float(net.max_order_per_supplier))
        self._begin_episode()

    # ------------------------------------------------------------------ graph
    def _build_graph(self, net: NetworkConfig) -> None:
        names = [node.name for node in net.nodes]
        if not names:
            raise UserError("env.network: a custom network needs at least one node in env.network.nodes")
        if len(set(names)) != len(names) or any(not n for n in names):
            raise UserError("env.network.nodes: every node needs a unique, non-empty name")
        index = {n: i for i, n in enumerate(names)}
        N = len(names)
        self.n_agents = N
        self.agent_names = names
        has_supplier = [False] * N
        supplier, customer, lead, ship_cost = [], [], [], []
        for e, edge in enumerate(net.edges):
            if edge.customer not in index:
                raise UserError(f"env.network.edges[{e}]: customer '{edge.customer}' is not a node name")
            outside = edge.supplier.startswith("outside")
            if not outside and edge.supplier not in index:
                raise UserError(
                    f"env.network.edges[{e}]: supplier '{edge.supplier}' is not a node name (outside sources start with 'outside')"
                )
            if edge.lead_time < 1:
                raise UserError(f"env.network.edges[{e}]: lead_time must be at least 1")
            c = index[edge.customer]
            s = -1 if outside else index[edge.supplier]
            supplier.append(s)
            customer.append(c)
            lead.append(edge.lead_time)
            ship_cost.append(edge.shipping_cost)
            has_supplier[c] = True
        for i, found in enumerate(has_supplier):
            if not found:
                raise UserError(f"env.network: node '{names[i]}' has no supplier; add an edge with customer '{names[i]}'")
        self._check_acyclic(N, supplier, customer, names)
        streams = sorted(node.customer_stream for node in net.nodes if node.customer_stream >= 0)
        if streams != list(range(len(streams))):
            raise UserError("env.network.nodes: customer_stream values must be 0, 1, ... each used by exactly one node")
        if not streams:
            raise UserError("env.network.nodes: no node serves customers; set customer_stream on the retailers")
        self.n_streams = len(streams)

        node_lost = np.array([n.lost_sales for n in net.nodes])
        stream_node = np.zeros(self.n_streams, dtype=np.int64)
        for i, node in enumerate(net.nodes):
            if node.customer_stream >= 0:
                stream_node[node.customer_stream] = i
        supplier_arr = np.array(supplier, dtype=np.int64)
        edge_lost = np.zeros(len(supplier), dtype=bool)
        edge_lost[supplier_arr >= 0] = node_lost[supplier_arr[supplier_arr >= 0]]
        self.graph = SupplyGraph(
            node_names=names, holding_cost=np.array([n.holding_cost for n in net.nodes]),
            shortage_cost=np.array([n.shortage_cost for n in net.nodes]), edge_supplier=supplier_arr,
            edge_customer=np.array(customer, dtype=np.int64), edge_lead=np.array(lead, dtype=np.int64),
            edge_cap=np.full(len(supplier), net.max_order_per_supplier, dtype=np.int64),
            edge_price=np.array(ship_cost, dtype=np.float64), edge_order_price_floor=np.zeros(len(supplier)),
            edge_lost=edge_lost, stream_node=stream_node, stream_lost=node_lost[stream_node],
        )
        g = self.graph
        # the dynamics index the graph's arrays directly
        self.edge_supplier, self.edge_customer, self.edge_lead, self.edge_dim = g.edge_supplier, g.edge_customer, g.edge_lead, g.edge_dim
        self.in_edges, self.out_edges, self.action_nvec = g.in_edges, g.out_edges, g.action_nvec
        self.holding_cost, self.shortage_cost = g.holding_cost, g.shortage_cost
        self.stream_node, self.stream_lost, self.edge_lost, self.internal = g.stream_node, g.stream_lost, g.edge_lost, g.internal
        self.external = np.flatnonzero(self.edge_supplier < 0)  # edges from outside sources
        self.n_slots = int(self.edge_lead.max())
        # per-node receiving shipping cost as a matrix so costs are one product: (E, N)
        self.ship_cost_matrix = np.zeros((len(supplier), N))
        self.ship_cost_matrix[np.arange(len(supplier)), self.edge_customer] = ship_cost
        # edge -> its customer node, so per-node sums over in-edges are one integer product: (E, N)
        self.edge_into_node = np.zeros((len(supplier), N), dtype=np.int64)
        self.edge_into_node[np.arange(len(supplier)), self.edge_customer] = 1
        self.initial_on_hand = np.array([n.initial_on_hand for n in net.nodes], dtype=np.int64)
        self.initial_pipeline = np.array([n.initial_pipeline for n in net.nodes], dtype=np.int64)

        # Demand "sources": S streams, then E edges, then one always-zero column for padding.
        # customers[i] lists the sources node i serves, in list order (stream first, then out-edges).
        S, E = self.n_streams, len(supplier)
        customers = [([node.customer_stream] if node.customer_stream >= 0 else []) + [S + e for e in self.out_edges[i]]
                     for i, node in enumerate(net.nodes)]
        C = max(1, max(len(c) for c in customers))
        self.source_of = np.full((N, C), S + E, dtype=np.int64)  # (N, C) padded with the zero column
        for i, c in enumerate(customers):
            order = c[::-1] if self.allocation_last_first(net.allocation) else c
            self.source_of[i, : len(order)] = order
        self.source_node = np.full(S + E + 1, -1, dtype=np.int64)
        self.source_pos = np.zeros(S + E + 1, dtype=np.int64)
        for i in range(N):
            for pos, src in enumerate(self.source_of[i]):
                if src < S + E:
                    self.source_node[src], self.source_pos[src] = i, pos
        # Landing slots: unique (customer, slot) pairs allow a fast indexed add
        self.land_slot = self.edge_lead - 1
        pairs = set(zip(self.edge_customer.tolist(), self.land_slot.tolist()))
        self.unique_landing = len(pairs) == E
        self.slot_mask = np.zeros((N, self.n_slots), dtype=bool)  # slots a node's pipeline uses
        for e in range(E):
            self.slot_mask[customer[e], : lead[e]] = True

    @staticmethod
    def allocation_last_first(rule: str) -> bool:
        return rule in ("last_customer_first", "proportional")

    @staticmethod
    def _check_acyclic(N: int, supplier: list[int], customer: list[int], names: list[str]) -> None:
        indegree = [0] * N
        children: list[list[int]] = [[] for _ in range(N)]
        for s, c in zip(supplier, customer):
            if s >= 0:
                indegree[c] += 1
                children[s].append(c)
        ready = [i for i in range(N) if indegree[i] == 0]
        seen = 0
        while ready:
            i = ready.pop()
            seen += 1
            for c in children[i]:
                indegree[c] -= 1
                if indegree[c] == 0:
                    ready.append(c)
        if seen != N:
            cyclic = [names[i] for i in range(N) if indegree[i] > 0]
            raise UserError(f"env.network: the edges form a cycle through {', '.join(cyclic)}; a supply network must be acyclic")

    # ------------------------------------------------------------------ dynamics
    def _reset_state(self) -> None:
        B, N, E = self.n_envs, self.n_agents, len(self.edge_supplier)
        self.on_hand = np.repeat(self.initial_on_hand[None], B, axis=0)  # (B, N)
        pipe = np.where(self.slot_mask, self.initial_pipeline[:, None], 0)
        self.pipeline = np.repeat(pipe[None], B, axis=0).astype(np.int64)  # (B, N, L_max)
        self.owed_edge = np.zeros((B, E), dtype=np.int64)  # what each edge's supplier owes its customer
        self.owed_stream = np.zeros((B, self.n_streams), dtype=np.int64)
        self.unmet = np.zeros((B, N), dtype=np.int64)  # units owed or lost this period, per node
        self.demand_seen = np.zeros((B, N), dtype=np.int64)

    def _advance(self, demand_t: np.ndarray, actions: np.ndarray) -> dict[str, Any]:
        B = self.n_envs
        S = self.n_streams
        orders = actions[:, self.edge_customer, self.edge_dim]  # (B, E) quantity asked on each edge
        # what each source asks for now: streams, edges, zero pad
        asked = np.concatenate([demand_t + self.owed_stream, orders + self.owed_edge, np.zeros((B, 1), np.int64)], axis=1)
        new_asks = np.concatenate([demand_t, orders, np.zeros((B, 1), np.int64)], axis=1)
        asked_by_node = asked[:, self.source_of]  # (B, N, C) in serving priority order
        available = self.on_hand + self.pipeline[:, :, 0]  # (B, N)
        served = self._allocate(asked_by_node, available)  # (B, N, C)
        shipped_src = np.zeros_like(asked)
        shipped_src[:, self.source_of] = served  # padding all lands in the last column, which is ignored
        shipped_src[:, -1] = 0
        unmet_src = asked - shipped_src  # (B, S + E + 1)

        self.on_hand = available - served.sum(axis=2)
        shipped_edge = shipped_src[:, S:-1].copy()  # (B, E)
        shipped_edge[:, self.external] = orders[:, self.external]  # outside sources deliver in full
        unmet_edge = unmet_src[:, S:-1]
        unmet_edge[:, self.external] = 0
        self.owed_edge = np.where(self.edge_lost, 0, unmet_edge)
        unmet_stream = unmet_src[:, :S]
        self.owed_stream = np.where(self.stream_lost, 0, unmet_stream)
        self.unmet = unmet_src[:, self.source_of].sum(axis=2)  # (B, N)
        self.demand_seen = new_asks[:, self.source_of].sum(axis=2)

        self.pipeline[:, :, :-1] = self.pipeline[:, :, 1:]
        self.pipeline[:, :, -1] = 0
        if self.unique_landing:
            self.pipeline[:, self.edge_customer, self.land_slot] += shipped_edge
        else:
            np.add.at(self.pipeline, (slice(None), self.edge_customer, self.land_slot), shipped_edge)

        cost = self.holding_cost * self.on_hand + self.shortage_cost * self.unmet + shipped_edge @ self.ship_cost_matrix
        return {
            "cost": cost,
            "received": shipped_edge,  # (B, E) units entering each edge's customer's pipeline
            "customer_sales": shipped_src[:, :S],  # (B, S)
            "unmet": self.unmet,
        }

    def _allocate(self, asked: np.ndarray, available: np.ndarray) -> np.ndarray:
        """Split each node's available stock among its customers.  asked (B, N, C) in priority order,
        available (B, N) -> served (B, N, C)."""
        if self.allocation == "proportional":
            total = asked.sum(axis=2)
            short = total > available
            share = np.where(short[..., None], asked * available[..., None] // np.maximum(total, 1)[..., None], asked)
            asked, available = asked - share, available - share.sum(axis=2)
            return share + self._serve_in_order(asked, available)
        return self._serve_in_order(asked, available)

    @staticmethod
    def _serve_in_order(asked: np.ndarray, available: np.ndarray) -> np.ndarray:
        """Serve customers one after another until stock runs out.  (B, N, C), (B, N) -> (B, N, C)."""
        before = np.cumsum(asked, axis=2) - asked  # units asked by customers served earlier
        return np.clip(available[..., None] - before, 0, asked)

    # ------------------------------------------------------------------ read API (declared in base_env)
    def owed_on_edges(self) -> np.ndarray:
        """Units each edge's supplier still owes its customer.  (B, E)"""
        return self.owed_edge

    def supplier_owed(self) -> np.ndarray:
        """Units the suppliers owe each node, summed over its suppliers.  (B, N)"""
        return self.owed_edge @ self.edge_into_node  # (B, E) @ (E, N), exact in integers

    def owed_to_customers(self) -> np.ndarray:
        """Units each node still owes its customers (customer nodes and customer streams).  (B, N)"""
        owed_src = np.concatenate([self.owed_stream, self.owed_edge, np.zeros((self.n_envs, 1), np.int64)], axis=1)
        return owed_src[:, self.source_of].sum(axis=2)

    def _observed_shortage(self) -> np.ndarray:
        return self.unmet  # units owed or lost this period (the paper's network observation)
