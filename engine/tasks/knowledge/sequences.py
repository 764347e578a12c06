"""The knowledge task: from a self-edit to the inner loop's training sequences (plain text, no chat template)."""

from __future__ import annotations

import re

_QA = re.compile(r"(?:^|\s)(?:question|q)\s*[:.]\s*(?P<q>.+?)\s*(?:answer|a)\s*[:.]\s*(?P<a>.+?)\s*$",
                 re.IGNORECASE | re.DOTALL)
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+")


def self_edit_lines(self_edit: str) -> list[str]:
    """Non-empty lines of a self-edit with list bullets and numbering removed."""
    out = []
    for line in self_edit.splitlines():
        line = _BULLET.sub("", line).strip()
        if line:
            out.append(line)
    return out


def qa_pairs(self_edit: str) -> list[tuple[str, str]]:
    """Question/answer pairs written either on one line or over two consecutive lines."""
    lines = self_edit_lines(self_edit)
    pairs: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        m = _QA.search(lines[i])
        if m:
            pairs.append((m["q"].strip(), m["a"].strip()))
            i += 1
            continue
        if i + 1 < len(lines):
            m = _QA.search(lines[i] + " " + lines[i + 1])
            if m and re.match(r"\s*(?:question|q)\s*[:.]", lines[i], re.IGNORECASE):
                pairs.append((m["q"].strip(), m["a"].strip()))
                i += 2
                continue
        i += 1
    return pairs


def training_sequences(title: str, self_edit: str, *, split: str = "lines",
                       context: str | None = None, append_passage: bool = False) -> list[str]:
    """Sequences the inner loop trains on, each prefixed with the passage's title.

    lines: one sequence per line; qa: one per question/answer pair (lines that are
    not pairs are kept as they are); whole: the self-edit as one sequence.
    """
    if split == "whole":
        body = [" ".join(self_edit_lines(self_edit))] if self_edit.strip() else []
    elif split == "qa":
        pairs = qa_pairs(self_edit)
        body = [f"Question: {q} Answer: {a}" for q, a in pairs] or self_edit_lines(self_edit)
    else:
        body = self_edit_lines(self_edit)
    seqs = [f"{title}\n{line}" for line in body]
    if append_passage and context:
        seqs.append(f"{title}\n{context}")
    return seqs


def passage_sequences(title: str, context: str) -> list[str]:
    """The 'passage only' condition: train on the passage itself."""
    return [f"{title}\n{context}"]
