"""amlexec: run Azure Machine Learning pipelines from Data Factory ``AzureMLExecutePipeline`` payloads.

The core never imports ``azure.functions``; the Function App's triggers live in ``function_app.py`` and
``amlexec.triggers``. Heavy Azure SDKs are imported only inside the adapters that use them.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
