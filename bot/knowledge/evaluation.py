"""Top-1 accuracy of the knowledge base on a question set (tests and benchmarks share it).

A question expects an entry id, or None when the honest answer is "I don't know". Each
answer is right, wrong (another entry, or an entry where none fits) or a don't-know where
an entry was expected: a wrong answer misleads, a don't-know hands over to a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.knowledge.base import KnowledgeBase
from nlu.datafile import read_yaml


@dataclass(frozen=True)
class Question:
    text: str
    expected: str | None
    split: str = "dev"


@dataclass
class Score:
    total: int = 0
    right: int = 0
    wrong: int = 0
    abstained: int = 0  # don't-know where an entry was expected
    mistakes: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.total if self.total else 0.0

    @property
    def abstain_rate(self) -> float:
        return self.abstained / self.total if self.total else 0.0


def load_questions(path: Path) -> list[Question]:
    data = read_yaml(path)
    return [Question(str(q["q"]), q["a"], str(q.get("split", "dev"))) for q in data["questions"]]


def evaluate(kb: KnowledgeBase, questions: list[Question]) -> Score:
    score = Score()
    for question in questions:
        answer = kb.ask(question.text)
        got = answer.entry_id if answer.found else None
        score.total += 1
        if got == question.expected:
            score.right += 1
        elif got is None:
            score.abstained += 1
            score.mistakes.append((question.text, question.expected, got))
        else:
            score.wrong += 1
            score.mistakes.append((question.text, question.expected, got))
    return score
