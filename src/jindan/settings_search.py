"""The retrieval section of the settings tree: how similar and find questions are ranked.

Part of the one typed tree in :mod:`jindan.settings` (which re-exports it); kept apart only for size.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class SearchSettings(BaseModel):
    """Similar-question retrieval."""

    rerank: Literal["none", "topic"] = Field(
        "topic",
        description="Intent similar only. topic: the question's own subject and its neighbours' subjects vote "
        "and the consensus topic is favoured (banks without subjects: the probe moves towards its nearest neighbours).",
    )
    topic_field: str = Field("subject", description="Payload field the topic reranker votes on.")
    topic_beta: float = Field(1.0, ge=0, description="Weight of the topic vote against the similarity.")
    topic_temperature: float = Field(
        0.05, gt=0, description="Softmax temperature of the neighbours' votes (lower: the nearest decide)."
    )
    anchor_weight: float = Field(
        3.0, ge=0, description="Intent similar: votes of the question itself for its subject (a neighbour has <= 1)."
    )
    anchor_share: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Intent similar by text: the question find puts first is taken as the text's own question "
        "(excluded; its vector and subject lead) when it holds this share of the text's character bigrams.",
    )
    topic_model: bool = Field(
        True,
        description="Intent similar: decide the subject first (the question's own, or inferred from a typed "
        "problem by the topic model trained at index time) and rank its questions first; false: the earlier "
        "soft topic vote (the subject is still reported, from the neighbours).",
    )
    anchor_strong_share: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Intent similar by text: from this share of the text's character pairs the anchor is the "
        "text's own question and its subject decides; below it, its subject is one piece of evidence.",
    )
    curriculum_terms: float = Field(
        1.0,
        ge=0,
        description="Intent similar, a bank whose subjects are named after curriculum units: log-odds added to a "
        "subject per curriculum term of its unit found in a typed problem (packaged glossary; 0: off).",
    )
    subject_uncertain: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Intent similar: an inferred subject less likely than this is reported as uncertain "
        "(the console then asks the student to pick the topic).",
    )
    expansion_weight: float = Field(
        1.0,
        ge=0,
        description="Banks without subjects: how far the probe moves towards its 3 nearest candidates before "
        "they are scored again (average query expansion); 0 keeps the dense order.",
    )
    expansion_lexical: float = Field(
        0.3,
        ge=0,
        description="Banks without subjects, a typed problem the bank does not hold: weight of the TF-IDF cosine "
        "of its terms (and of its nearest candidates' terms) with each candidate's, added to the cosine; 0: off.",
    )
    expansion_units: float = Field(
        0.5,
        ge=0,
        description="Banks without subjects, intent similar: weight of the cosine of the problem's curriculum units "
        "(packaged glossary terms found in the typed text, or in the bank question and its worked solution) with "
        "each candidate's (question and worked solution), added to the score; 0: off.",
    )
    latent_topics: float = Field(
        0.5,
        ge=0,
        description="Banks without subjects, intent similar: weight of a candidate's agreement with the "
        "problem's latent topic (clusters of the bank's vectors, learned when it is indexed), added to the "
        "score; 0: off.",
    )
    ngram_weight: float = Field(
        0.2, ge=0, description="Intent find: weight of the query's character-bigram overlap (LaTeX-aware)."
    )
    lexical_weight: float = Field(
        0.05,
        ge=0,
        description="Intent find: weight of the BM25 score of Korean morphemes and LaTeX/word terms over the "
        "candidates (scaled to [0, 1]); 0 turns it off.",
    )
    near_exact: float = Field(
        0.9, gt=0, le=1, description="Intent find: a question holding this share of the query's bigrams is first."
    )
    candidates: int = Field(50, ge=1, le=1000, description="Candidates fetched before ranking.")
    hybrid: bool = Field(
        False,
        description="Also fetch candidates by sparse morpheme/LaTeX terms (Qdrant stores; needs a re-index). "
        "Scores stay cosine: the store's rank fusion only widens the candidates.",
    )
