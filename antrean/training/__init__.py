"""Turning real conversations into training data: the NLU inbox (antrean.training.nlu_inbox) and the
export of reviewed examples to data/nlu/reviewed.yml without personal data (antrean.training.export).
Reads Rasa's files as plain YAML: importing Rasa would cost the console seconds at start-up."""
