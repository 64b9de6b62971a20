"""Patient-level splits: no patient in two splits, strata balanced, seeded.

Many published CBIS-DDSM splits leak patients between train and test (31 patients sit in both
official files). Here every split is made over patients: all the items of a patient go to one
split, and within each stratum patients are dealt, largest first, to the split furthest below
its target, which keeps every stratum's counts within one item of the target wherever the
patients' sizes allow it.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from radprep.errors import SpecError

if TYPE_CHECKING:
    from radprep.datasets.sources import Item

__all__ = ["SplitItem", "assign_splits", "official_split", "patient_split", "split_counts"]


@dataclass(frozen=True)
class SplitItem:
    """What a split needs to know of an item."""

    id: str
    patient: str
    stratum: tuple[Any, ...] = ()
    official: str | None = None


def _patient_strata(items: Sequence[SplitItem]) -> dict[str, tuple[Any, ...]]:
    per: dict[str, Counter[tuple[Any, ...]]] = defaultdict(Counter)
    for it in items:
        per[it.patient][it.stratum] += 1
    # A patient's stratum is the one most of its items are in (ties: the first in sort order).
    return {
        p: sorted(c.items(), key=lambda kv: (-kv[1], tuple(str(v) for v in kv[0])))[0][0]
        for p, c in per.items()
    }


def patient_split(
    items: Sequence[SplitItem], fractions: Mapping[str, float], *, seed: int = 0
) -> dict[str, str]:
    """Assign each item a split by patient, stratified, seeded.

    Parameters
    ----------
    items : sequence of SplitItem
        Ids, patients and strata (the tuple of the stratifying labels' values).
    fractions : mapping of str to float
        Split name -> fraction of items (adding up to 1).
    seed : int
        The same seed and items give the same splits on any machine.

    Returns
    -------
    dict
        Item id -> split name.
    """
    if not fractions or abs(sum(fractions.values()) - 1.0) > 1e-6:
        raise SpecError(f"split fractions must add up to 1, got {dict(fractions)}")
    names = list(fractions)
    strata = _patient_strata(items)
    members: dict[str, list[str]] = defaultdict(list)
    for it in items:
        members[it.patient].append(it.id)
    by_stratum: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for p, s in strata.items():
        by_stratum[s].append(p)
    rng = random.Random(seed)
    assigned: dict[str, str] = {}
    for s in sorted(by_stratum, key=lambda k: tuple(str(v) for v in k)):
        patients = sorted(by_stratum[s])
        rng.shuffle(patients)
        patients.sort(key=lambda p: -len(members[p]))  # stable: the shuffle breaks ties
        total = sum(len(members[p]) for p in patients)
        count = dict.fromkeys(names, 0)
        for p in patients:
            deficit = {n: fractions[n] * total - count[n] for n in names}
            best = max(names, key=lambda n: (deficit[n], -names.index(n)))
            count[best] += len(members[p])
            for i in members[p]:
                assigned[i] = best
    return assigned


def official_split(
    items: Sequence[SplitItem],
    *,
    val_fraction: float = 0.15,
    both: str = "test",
    seed: int = 0,
) -> tuple[dict[str, str], list[str]]:
    """The dataset's own train/test, with validation carved by patient from train.

    Parameters
    ----------
    items : sequence of SplitItem
        `official` is ``"train"`` or ``"test"``.
    val_fraction : float
        Fraction of the train items (by patient, stratified) that become ``val``.
    both : {"test", "train", "keep"}
        Where patients found in both official files go: all their items to test (the default:
        no leak), all to train, or kept as the files say (leaking; reported).
    seed : int

    Returns
    -------
    splits : dict
        Item id -> ``train``, ``val`` or ``test``.
    in_both : list of str
        The patients found in both official files, sorted.
    """
    official: dict[str, set[str]] = defaultdict(set)
    for it in items:
        if it.official not in ("train", "test"):
            raise SpecError(
                f"item {it.id!r} has no official split (its source assigns none: "
                "Item.official_split)"
            )
        official[it.patient].add(it.official)
    in_both = sorted(p for p, s in official.items() if len(s) > 1)
    result: dict[str, str] = {}
    train_items = []
    for it in items:
        target = it.official
        if it.patient in official and len(official[it.patient]) > 1 and both != "keep":
            target = both
        if target == "test":
            result[it.id] = "test"
        else:
            train_items.append(it)
    if val_fraction > 0 and train_items:
        result.update(
            patient_split(train_items, {"train": 1 - val_fraction, "val": val_fraction}, seed=seed)
        )
    else:
        result.update({it.id: "train" for it in train_items})
    return result, in_both


def split_counts(splits: Mapping[str, str]) -> dict[str, int]:
    """Items per split, sorted by split name."""
    return dict(sorted(Counter(splits.values()).items()))


def assign_splits(spec: Any, items: Sequence[Item]) -> tuple[dict[str, str], dict[str, Any]]:
    """Assign a recipe's ``split`` section over Items: item id -> split, and its description
    for the run record (method, seed, counts of items and patients per split).

    Items are split by :attr:`Item.patient_id` (the item's own id when unknown); the
    ``official`` method takes the split each item's source assigned
    (:attr:`Item.official_split`).
    """
    if spec is None:
        return {}, {}
    split_items = [
        SplitItem(
            id=it.id,
            patient=it.patient_id or it.id,
            stratum=tuple(it.labels.get(k) for k in spec.stratify),
            official=it.official_split,
        )
        for it in items
    ]
    info: dict[str, Any] = {"method": spec.method, "seed": spec.seed, "stratify": spec.stratify}
    if spec.method == "official":
        splits, in_both = official_split(
            split_items, val_fraction=spec.val_fraction, both=spec.both_official, seed=spec.seed
        )
        info["patients_in_both_official_splits"] = len(in_both)
        info["both_official_policy"] = spec.both_official
    else:
        splits = patient_split(split_items, spec.fractions, seed=spec.seed)
    info["counts"] = split_counts(splits)
    info["patients"] = {
        name: len({s.patient for s in split_items if splits.get(s.id) == name})
        for name in info["counts"]
    }
    return splits, info
