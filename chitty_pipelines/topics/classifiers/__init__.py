"""Topic classifiers behind one interface (``base.TopicClassifier``), chosen by
``CHITTY_TOPIC_CLASSIFIER``: ``tfidf`` (default, offline), ``semantic`` (optional extra),
``llm`` (any OpenAI-compatible endpoint)."""

from chitty_pipelines.topics.classifiers.base import ClassifierError, Limits, TopicClassifier, TopicScore

CLASSIFIERS: tuple[str, ...] = ("tfidf", "semantic", "llm")

__all__ = ["CLASSIFIERS", "ClassifierError", "Limits", "TopicClassifier", "TopicScore"]
