"""The topic classifier as a Dagster resource: which classifier, which taxonomy, and the
endpoint of the LLM classifier (its key an ``EnvVar`` resolved at run time)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field

from chitty_pipelines.config import env, number, secret
from chitty_pipelines.topics.classifiers import CLASSIFIERS, Limits, TopicClassifier
from chitty_pipelines.topics.taxonomy import Taxonomy, load_taxonomy

DEFAULT_LLM_BASE_URL = "https://api.openai.com/v1"
DEFAULT_LLM_MODEL = "gpt-4o-mini"


class TopicClassifierResource(dg.ConfigurableResource):
    """Categorises session summaries into the topic taxonomy."""

    classifier: str = Field(default="prototype", description="prototype | tfidf | original | semantic | llm")
    taxonomy_path: str | None = Field(default=None, description="Taxonomy YAML; None: the ChittyOS topics.")
    embedding: str = Field(default="minilm", description="prototype's text embedding: minilm | wordllama")
    max_topics: int = Field(default=3, description="Most topics kept per session.")
    min_confidence: float = Field(default=0.2, description="Drop topics below this (the best is kept).")
    llm_base_url: str = Field(default=DEFAULT_LLM_BASE_URL, description="OpenAI-compatible API root.")
    llm_api_key: str | None = Field(default=None, description="CHITTY_TOPIC_LLM_API_KEY (run time).")
    llm_model: str = Field(default=DEFAULT_LLM_MODEL)
    llm_batch_size: int = Field(default=10, description="Sessions per chat completion request.")
    llm_attempts: int = Field(default=4, description="Attempts per request (429/5xx/malformed).")
    llm_max_wait_s: float = Field(default=30.0, description="Longest single backoff between attempts.")
    llm_timeout_s: float = Field(default=60.0, description="CHITTY_TOPIC_LLM_TIMEOUT_S: seconds per request.")

    @classmethod
    def from_settings(cls) -> TopicClassifierResource:
        return cls(
            classifier=(env("CHITTY_TOPIC_CLASSIFIER") or "prototype").strip().lower(),
            taxonomy_path=env("CHITTY_TOPIC_TAXONOMY"),
            embedding=(env("CHITTY_TOPIC_EMBEDDING") or "minilm").strip().lower(),
            max_topics=number("CHITTY_TOPIC_MAX_PER_SESSION", 3, int, minimum=1),
            min_confidence=number("CHITTY_TOPIC_MIN_CONFIDENCE", 0.2, minimum=0, maximum=1),
            llm_base_url=env("CHITTY_TOPIC_LLM_BASE_URL") or DEFAULT_LLM_BASE_URL,
            llm_api_key=secret("CHITTY_TOPIC_LLM_API_KEY"),  # type: ignore[arg-type]
            llm_model=env("CHITTY_TOPIC_LLM_MODEL") or DEFAULT_LLM_MODEL,
            llm_timeout_s=number("CHITTY_TOPIC_LLM_TIMEOUT_S", 60, positive=True),
        )

    def taxonomy(self) -> Taxonomy:
        return load_taxonomy(self.taxonomy_path)

    def build(self, taxonomy: Taxonomy | None = None) -> TopicClassifier:
        taxonomy = taxonomy or self.taxonomy()
        limits = Limits(max_topics=self.max_topics, min_confidence=self.min_confidence)
        if self.classifier == "prototype":
            from chitty_pipelines.config import load_settings
            from chitty_pipelines.topics.classifiers.prototype import PrototypeParams, cached

            # The fit is kept beside the warehouse for the next command (fit_cache.py).
            return cached(
                taxonomy,
                limits,
                PrototypeParams(embedding=self.embedding),
                cache_dir=load_settings().chitty_home / "cache" / "topics",
            )
        if self.classifier == "original":
            from chitty_pipelines.topics.classifiers.original import OriginalKeywordScorer

            return OriginalKeywordScorer(taxonomy)
        if self.classifier == "tfidf":
            from chitty_pipelines.topics.classifiers.tfidf import TfidfClassifier

            return TfidfClassifier(taxonomy, limits)
        if self.classifier == "semantic":
            from chitty_pipelines.topics.classifiers.semantic import SemanticClassifier

            return SemanticClassifier(taxonomy, limits)
        if self.classifier == "llm":
            from chitty_pipelines.topics.classifiers.llm import LlmClassifier, LlmSettings

            settings = LlmSettings(
                base_url=self.llm_base_url,
                model=self.llm_model,
                api_key=self.llm_api_key,
                batch_size=self.llm_batch_size,
                attempts=self.llm_attempts,
                max_wait_s=self.llm_max_wait_s,
                timeout_s=self.llm_timeout_s,
            )
            return LlmClassifier(taxonomy, settings, limits)
        raise ValueError(
            f"unknown topic classifier {self.classifier!r} (CHITTY_TOPIC_CLASSIFIER): "
            f"use one of {', '.join(CLASSIFIERS)}"
        )
