"""TFDS dataset builders, one folder per dataset (shipped as mtl_zoo.dataset_builders)."""
