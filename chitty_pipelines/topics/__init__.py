"""Topic categorisation of AI sessions: the taxonomy (data) and the classifiers that use it."""

from chitty_pipelines.topics.taxonomy import Taxonomy, TaxonomyError, Topic, load_taxonomy

__all__ = ["Taxonomy", "TaxonomyError", "Topic", "load_taxonomy"]
