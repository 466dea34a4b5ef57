"""Offline training of ACT, Diffusion Policy and π₀ with lerobot-compatible checkpoints. No ROS.

- ``policies``: configs, models and processors by name (``make_policy_config``, ``make_policy``,
  ``make_pre_post_processors``); ``policies.act`` and ``policies.diffusion`` hold one policy each.
- ``normalization``: normalization modes and the (un)normalizer steps; ``processor``: the pipelines.
- ``checkpoint``: lerobot's ``pretrained_model`` / ``training_state`` layout (``save_pretrained``,
  ``load_pretrained``, ``save_checkpoint``, ``load_training_state``); ``run_state``: ``RunState``, what a
  training run updates and its checkpoints hold.
- ``features``: policy features from a dataset's info.json features.
- ``train`` (``TrainConfig`` in ``train_config``, ``train(config)``) and ``train_cli`` (lerobot-ros-train);
  ``options`` (dotted options, config files), ``data`` (windows, sampler, loader), ``augmentation``,
  ``distributed`` (torchrun/DDP), ``train_log`` (tqdm, TensorBoard, CSV, PNG curve).
- ``evaluate`` and ``eval_cli`` (lerobot-ros-eval): offline action error on held-out episodes.
"""
