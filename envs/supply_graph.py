"""The supply graph every consumer reads: nodes, supplier edges and the action layout, for a chain or any DAG.

Both environments build one (``SerialEnv``: ``SupplyGraph.chain``; ``NetworkEnv``: ``SupplyGraph.from_config``)
and expose it as ``env.graph``. Baselines, the planner, the clairvoyant LP and metrics read it instead of
asking which env kind they face; only echelon policies ask ``graph.is_chain``.

Nodes are agents (index = agent index). An edge e is a supply relation: node ``edge_customer[e]`` orders
from ``edge_supplier[e]`` (-1: an outside source that always delivers in full), and units shipped on it
arrive ``edge_lead[e]`` periods later. A node's action has one dimension per supplier edge, in the order
of its in-edges (``edge_dim``); unused dimensions of nodes with fewer suppliers are padding of size 1.
Customer demand stream s is served by node ``stream_node[s]``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class SupplierLayout:
    """Every real action dimension, ordered per node by the edge's lead time (fastest supplier first), as index
    arrays; this is the order of the multi-index (dual-index for two suppliers) policies and their parameters."""

    node: np.ndarray  # (P,) node of each action dimension
    edge: np.ndarray  # (P,) its supply edge
    dim: np.ndarray  # (P,) its position in the node's action
    lead: np.ndarray  # (P,) the edge's lead time
    cap: np.ndarray  # (P,) largest order on it
    rank: np.ndarray  # (P,) position among the node's suppliers, fastest first
    upto: np.ndarray  # (P, P) float: 1 where p' is a supplier of the same node at or before p in that order
    slowest: np.ndarray  # (P,) bool: the node's last supplier in that order (its position is the node's whole position)
    label: list[str]  # (P,) "node" for a node with one supplier, else "node<-supplier"


@dataclass(frozen=True, eq=False)
class SupplyGraph:
    """Nodes and supplier edges of one supply chain (see the module docstring); arrays are read-only by convention."""

    node_names: list[str]  # (N,) agent names
    holding_cost: np.ndarray  # (N,) cost per unit on hand per period
    shortage_cost: np.ndarray  # (N,) cost per unit a node owes (or lost) per period
    edge_supplier: np.ndarray  # (E,) supplying node, -1 = outside source
    edge_customer: np.ndarray  # (E,) ordering node
    edge_lead: np.ndarray  # (E,) periods from shipment to use
    edge_cap: np.ndarray  # (E,) largest order on the edge
    edge_price: np.ndarray  # (E,) cost per unit received over the edge (shipping), paid by the customer
    edge_order_price_floor: np.ndarray  # (E,) lowest price per unit ordered (all-units discounts at their deepest; 0 = orders not priced)
    edge_lost: np.ndarray  # (E,) bool: what the supplier cannot ship on this edge is lost (else owed)
    stream_node: np.ndarray  # (S,) node serving each customer demand stream
    stream_lost: np.ndarray  # (S,) bool: unmet customer demand of the stream is lost (else owed)
    in_edges: list[list[int]] = field(init=False)  # (N,) each node's supplier edges, in action order
    out_edges: list[list[int]] = field(init=False)  # (N,) each node's edges to customer nodes, in edge order

    def __post_init__(self) -> None:
        N = len(self.node_names)
        in_edges: list[list[int]] = [[] for _ in range(N)]
        out_edges: list[list[int]] = [[] for _ in range(N)]
        for e, (s, c) in enumerate(zip(self.edge_supplier.tolist(), self.edge_customer.tolist())):
            in_edges[c].append(e)
            if s >= 0:
                out_edges[s].append(e)
        object.__setattr__(self, "in_edges", in_edges)
        object.__setattr__(self, "out_edges", out_edges)

    # ------------------------------------------------------------------ builders
    @staticmethod
    def chain(
        node_names: list[str], lead_time: np.ndarray, order_cap: int, holding_cost: np.ndarray,
        shortage_cost: np.ndarray, order_price_floor: np.ndarray, retailer_lost_sales: bool,
    ) -> "SupplyGraph":
        """A serial chain: node 0 serves the customers, node i buys from node i+1, the top node from outside.
        lead_time, holding_cost, shortage_cost, order_price_floor: (N,) per node (edge i leads into node i)."""
        N = len(node_names)
        supplier = np.arange(1, N + 1, dtype=np.int64)
        supplier[-1] = -1
        return SupplyGraph(
            node_names=list(node_names), holding_cost=np.asarray(holding_cost, dtype=np.float64),
            shortage_cost=np.asarray(shortage_cost, dtype=np.float64), edge_supplier=supplier,
            edge_customer=np.arange(N, dtype=np.int64), edge_lead=np.asarray(lead_time, dtype=np.int64),
            edge_cap=np.full(N, order_cap, dtype=np.int64), edge_price=np.zeros(N),
            edge_order_price_floor=np.asarray(order_price_floor, dtype=np.float64), edge_lost=np.zeros(N, dtype=bool),
            stream_node=np.zeros(1, dtype=np.int64), stream_lost=np.array([retailer_lost_sales]),
        )

    # ------------------------------------------------------------------ sizes and action layout
    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def n_edges(self) -> int:
        return len(self.edge_supplier)

    @property
    def n_streams(self) -> int:
        return len(self.stream_node)

    @cached_property
    def edge_dim(self) -> np.ndarray:
        """(E,) position of each edge in its customer's action."""
        return np.array([self.in_edges[c].index(e) for e, c in enumerate(self.edge_customer.tolist())], dtype=np.int64)

    @cached_property
    def action_nvec(self) -> np.ndarray:
        """(N, D) choices per action dimension (cap + 1; padding dimensions have 1)."""
        nvec = np.ones((self.n_nodes, max(len(x) for x in self.in_edges)), dtype=np.int64)
        nvec[self.edge_customer, self.edge_dim] = self.edge_cap + 1
        return nvec

    @cached_property
    def internal(self) -> np.ndarray:
        """(E_int,) node-to-node edges (the others come from outside sources)."""
        return np.flatnonzero(self.edge_supplier >= 0)

    # ------------------------------------------------------------------ shape questions policies ask
    @cached_property
    def single_sourced(self) -> bool:
        """Every node has exactly one supplier (a tree or a chain): a node's order is one number."""
        return all(len(edges) == 1 for edges in self.in_edges)

    @cached_property
    def is_chain(self) -> bool:
        """Node 0 serves the only customer stream, node i buys only from node i+1 and the last node from
        outside: the serial chain in which echelon stock (a node and everything below it) is defined."""
        N = self.n_nodes
        expected = np.append(np.arange(1, N), -1)
        return (
            self.single_sourced and self.n_streams == 1 and int(self.stream_node[0]) == 0
            and np.array_equal(self.edge_supplier[[edges[0] for edges in self.in_edges]], expected)
        )

    @cached_property
    def node_lead(self) -> np.ndarray:
        """(N,) lead time of each node's only supplier (single-sourced graphs)."""
        if not self.single_sourced:
            raise ValueError("node_lead is defined when every node has one supplier")
        return self.edge_lead[[edges[0] for edges in self.in_edges]]

    @cached_property
    def echelon_cover(self) -> np.ndarray:
        """(N,) periods an echelon order-up-to level covers on a chain: the lead times at and below the node, plus one."""
        if not self.is_chain:
            raise ValueError("echelon_cover is defined on a chain")
        return np.cumsum(self.node_lead) + 1.0

    def supplier_name(self, e: int) -> str:
        s = int(self.edge_supplier[e])
        return self.node_names[s] if s >= 0 else f"outside(L={int(self.edge_lead[e])})"

    def dims(self, by: str = "lead") -> list[tuple[int, int, int]]:
        """(node, edge, action dimension) of every real action dimension; per node ordered by edge lead time
        (fastest first, the multi-index order) or by unit shipping price (cheapest first)."""
        out = []
        for i, edges in enumerate(self.in_edges):
            if by == "lead":
                key = lambda e: (int(self.edge_lead[e]), e)  # noqa: E731
            else:
                key = lambda e: (float(self.edge_price[e]), e)  # noqa: E731
            out.extend((i, e, int(self.edge_dim[e])) for e in sorted(edges, key=key))
        return out

    @cached_property
    def supplier_layout(self) -> SupplierLayout:
        """The action dimensions in multi-index order (built once per graph)."""
        dims = self.dims()
        node, edge, dim = (np.array([x[k] for x in dims], dtype=np.int64) for k in range(3))
        rank = np.array([sum(1 for j, _, _ in dims[:p] if j == i) for p, (i, _, _) in enumerate(dims)])
        upto = ((node[:, None] == node[None, :]) & (rank[:, None] <= rank[None, :])).astype(np.float64)
        slowest = rank == np.array([rank[node == i].max() for i in node])
        label = [
            self.node_names[i] if len(self.in_edges[i]) == 1 else f"{self.node_names[i]}<-{self.supplier_name(e)}"
            for i, e, _ in dims
        ]
        return SupplierLayout(node, edge, dim, self.edge_lead[edge], self.edge_cap[edge], rank, upto, slowest, label)
