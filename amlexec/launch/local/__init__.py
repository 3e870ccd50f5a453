"""The local runner: real v2 pipeline YAML run as processes on this machine (the ``AmlexecLocal`` target).

``launcher`` implements the Launcher interface; ``pipeline_spec`` reads and binds the YAML; ``run_folder``
owns a run's folder and its state file; ``step_executor`` is the detached process that runs the steps.
"""
