"""The zoo catalog: one folder per prebuilt model (shipped inside the wheel as mtl_zoo.catalog)."""
