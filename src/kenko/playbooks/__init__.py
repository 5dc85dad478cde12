"""Playbooks: rules that open actions when scores fall, and the notifications."""
