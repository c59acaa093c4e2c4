"""Antrean: passport-application queue numbers over WhatsApp for Indonesian immigration offices."""
