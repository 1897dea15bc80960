"""No models: the change counter is SQL (migration 0001, backend.layers.changes). The module exists
because Django sends post_migrate, which installs the counter's triggers, only to apps with one."""
