"""Custom Rasa NLU components (config.yml): slang normaliser, stem and message-shape featurizers,
TF-IDF intent classifier, LAW `#`-format reader; what they share is in component.py."""
