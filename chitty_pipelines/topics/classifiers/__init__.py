"""Topic classifiers behind one interface (``base.TopicClassifier``), chosen by
``CHITTY_TOPIC_CLASSIFIER``: ``prototype`` (default, offline, learns from manual labels),
``tfidf`` (its predecessor), ``original`` (the first hub's keyword scorer, the baseline),
``semantic`` (optional extra), ``llm`` (any OpenAI-compatible endpoint)."""

from chitty_pipelines.topics.classifiers.base import ClassifierError, Limits, TopicClassifier, TopicScore

CLASSIFIERS: tuple[str, ...] = ("prototype", "tfidf", "original", "semantic", "llm")

__all__ = ["CLASSIFIERS", "ClassifierError", "Limits", "TopicClassifier", "TopicScore"]
