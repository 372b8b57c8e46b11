"""Distances between districts: great-circle km between centres, else neighbour steps.

A pair of districts where either lacks coordinates is judged by the number of neighbour steps
between them times `km_per_hop`; districts with no path between them count as farther than any
path could be (km_per_hop × number of districts).
"""
from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd

EARTH_RADIUS_KM = 6371.0088


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between arrays of points in degrees."""
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(v, dtype="float64")) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class Geography:
    """Where districts are and how far apart, built once per batch."""

    def __init__(self, districts: pd.DataFrame, km_per_hop: float):
        self.km_per_hop = km_per_hop
        self.ids = districts["district_id"].to_numpy()
        self.lat = districts.set_index("district_id")["lat"].astype("float64")
        self.lon = districts.set_index("district_id")["lon"].astype("float64")
        self.graph = nx.Graph()
        self.graph.add_nodes_from(self.ids)
        for district, neighbors in zip(districts["district_id"], districts["neighbors"]):
            self.graph.add_edges_from((district, n) for n in neighbors)
        self._hops: dict[str, dict[str, int]] = {}

    def adjacent(self) -> pd.DataFrame:
        """Each district with itself and each of its neighbours (both directions)."""
        edges = [(a, b) for a, b in self.graph.edges] + [(b, a) for a, b in self.graph.edges]
        edges += [(d, d) for d in self.ids]
        return pd.DataFrame(edges, columns=["home", "district_id"]).drop_duplicates()

    def within_radius(self, homes: pd.Series) -> pd.DataFrame:
        """Every (home, district, km) with both centres known, for the given home districts."""
        homes = pd.Index(homes.dropna().unique())
        located = self.lat.notna() & self.lon.notna()
        targets = self.lat.index[located]
        homes = homes[located.reindex(homes, fill_value=False).to_numpy()]
        if len(homes) == 0 or len(targets) == 0:
            return pd.DataFrame({"home": pd.Series([], dtype=object), "district_id": pd.Series([], dtype=object),
                                 "km": pd.Series([], dtype="float64")})
        h = np.repeat(homes.to_numpy(), len(targets))
        t = np.tile(targets.to_numpy(), len(homes))
        km = haversine_km(self.lat[h].to_numpy(), self.lon[h].to_numpy(), self.lat[t].to_numpy(),
                          self.lon[t].to_numpy())
        return pd.DataFrame({"home": h, "district_id": t, "km": km})

    def distance_km(self, origins: pd.Series, destinations: pd.Series) -> np.ndarray:
        """Distance for each (origin, destination); an empty origin (no home district) is 0 km."""
        origins = origins.to_numpy(dtype=object)
        destinations = destinations.to_numpy(dtype=object)
        known = pd.notna(origins)
        lat1 = self.lat.reindex(origins).to_numpy()
        lon1 = self.lon.reindex(origins).to_numpy()
        lat2 = self.lat.reindex(destinations).to_numpy()
        lon2 = self.lon.reindex(destinations).to_numpy()
        km = haversine_km(lat1, lon1, lat2, lon2)
        needs_hops = known & np.isnan(km)
        if needs_hops.any():
            km[needs_hops] = [self.hops(o, d) * self.km_per_hop
                              for o, d in zip(origins[needs_hops], destinations[needs_hops])]
        km[~known] = 0.0
        return km

    def hops(self, origin: str, destination: str) -> int:
        """Neighbour steps between two districts (number of districts if there is no path)."""
        if origin not in self._hops:
            self._hops[origin] = nx.single_source_shortest_path_length(self.graph, origin)
        return self._hops[origin].get(destination, len(self.ids))
