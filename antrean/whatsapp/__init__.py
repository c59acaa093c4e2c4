"""The WhatsApp channel's parts: settings, webhook payloads, the durable inbox, the Graph API client,
outbound formatting and the worker that feeds stored messages to Rasa. The Rasa-facing entry point
is antrean.assistant.whatsapp_channel."""
