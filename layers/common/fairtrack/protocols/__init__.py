"""Protocol adapters: translate an inbound wire format into canonical hits. They never decide privacy."""
