"""Custom Rasa NLU components: LAW `#`-format reader and Indonesian slang normaliser."""
