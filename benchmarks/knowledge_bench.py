"""Knowledge retrieval on the question set: top-1 accuracy, wrong answers, don't-knows.

A question expects one entry, or none (the bot should say it does not know and offer a
person). Reported per split (``dev``: the set the thresholds and keywords were tuned on;
``held_out``: written after that tuning) and overall, with every mistake and the time per
question. Target (issue 18): top-1 accuracy ≥ 90 %.
Usage: .venv/bin/python benchmarks/knowledge_bench.py [--sweep]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

from bot.knowledge.base import KnowledgeBase
from bot.knowledge.evaluation import Question, evaluate, load_questions

QUESTIONS = Path(__file__).parents[1] / "tests" / "bot" / "data" / "knowledge_questions.yml"


def report(kb: KnowledgeBase, questions: list[Question]) -> None:
    splits = sorted({q.split for q in questions})
    for name, subset in [*((s, [q for q in questions if q.split == s]) for s in splits)] + [
        ("all", questions)
    ]:
        score = evaluate(kb, subset)
        print(
            f"{name:9} n={score.total:4}  top-1 {score.accuracy:6.1%}  wrong {score.wrong_rate:5.1%}"
            f"  don't-know {score.abstain_rate:5.1%}"
        )
        if name != "all":
            for text, want, got in score.mistakes:
                print(f"    {text!r}: expected {want}, got {got}")
    timings = []
    for question in questions:
        start = time.perf_counter()
        kb.ask(question.text)
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    p99 = timings[int(len(timings) * 0.99) - 1]
    print(f"time per question: median {statistics.median(timings):.2f} ms, p99 {p99:.2f} ms")


def sweep(questions: list[Question]) -> None:
    """Accuracy and wrong answers for a grid of score and margin bars."""
    for min_score in (1.2, 1.4, 1.6, 1.8, 2.0):
        for min_margin in (0.0, 0.05, 0.1, 0.15):
            score = evaluate(
                KnowledgeBase.load(min_score=min_score, min_margin=min_margin), questions
            )
            print(
                f"min_score {min_score:.1f} min_margin {min_margin:.2f}: "
                f"top-1 {score.accuracy:6.1%}  wrong {score.wrong_rate:5.1%}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also try other thresholds")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}")
    questions = load_questions(QUESTIONS)
    start = time.perf_counter()
    kb = KnowledgeBase.load()
    print(
        f"index of {len(kb.entries)} entries built in {time.perf_counter() - start:.2f} s "
        f"(min_score {kb.min_score}, min_margin {kb.min_margin})"
    )
    report(kb, questions)
    if args.sweep:
        sweep(questions)


if __name__ == "__main__":
    main()
