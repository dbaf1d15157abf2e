"""Consumer knowledge base: identification tips, rights, processes, rewards, with sources."""
