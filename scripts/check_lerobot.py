#!/usr/bin/env python3
"""Load a dataset written by `strider export lerobot` the way LeRobot's v3 loader does:
meta/info.json for fps and features, Parquet frames through pyarrow, and check that the
columns, shapes and episode index ranges agree with the metadata.

Development check, not part of the README commands:

    python3 -m pip install pyarrow
    python3 scripts/check_lerobot.py DATASET_DIR
"""

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq


def main(root: Path) -> None:
    info = json.loads((root / "meta/info.json").read_text())
    data = pq.read_table(root / info["data_path"].format(chunk_index=0, file_index=0))
    episodes = pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    tasks = pq.read_table(root / "meta/tasks.parquet").to_pylist()
    assert data.num_rows == info["total_frames"], (data.num_rows, info["total_frames"])
    assert len(episodes) == info["total_episodes"]
    for name, feature in info["features"].items():
        column = data.column(name).to_pylist()
        if feature["shape"] != [1]:
            widths = {len(row) for row in column}
            assert widths == {feature["shape"][0]}, (name, widths)
            assert len(feature["names"]) == feature["shape"][0], name
    index = data.column("index").to_pylist()
    assert index == list(range(data.num_rows)), "index must count frames"
    episode_index = data.column("episode_index").to_pylist()
    for ep in episodes:
        rows = episode_index[ep["dataset_from_index"] : ep["dataset_to_index"]]
        assert rows == [ep["episode_index"]] * ep["length"], ep
    state = data.column("observation.state").to_pylist()[0]
    print(
        f"{root}: ok: {data.num_rows} frames, {len(episodes)} episodes at {info['fps']} fps, "
        f"task {tasks[0]['task']!r}, first observation.state[:3] = {[round(x, 4) for x in state[:3]]}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
