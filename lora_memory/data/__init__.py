"""Data: generated documents with their questions (`synthetic`), the Text-to-LoRA task corpus
(`task_corpus`), and the files shipped beside them (the demo document, the corpus itself).

Recipes and evaluations read data from here; nothing here imports them.
"""
