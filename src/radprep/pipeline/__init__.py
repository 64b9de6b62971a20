"""Recipes: validated specs (YAML + pydantic) and the pipeline they build."""

from radprep.pipeline.build import Pipeline
from radprep.pipeline.load import load_recipe
from radprep.pipeline.spec import Recipe, recipe_hash

__all__ = ["Pipeline", "Recipe", "load_recipe", "recipe_hash"]
