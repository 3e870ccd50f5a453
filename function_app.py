"""Azure Functions entry point: wires amlexec's blueprints into the app the host indexes. Nothing else."""

import azure.functions as func

from amlexec.triggers import blueprint

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(blueprint)
