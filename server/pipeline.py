"""Everything after the forward pass, per request: resolve entities -> escalation hint -> response.

One `Pipeline` is built per loaded model (the domain config travels in the artifact), so a hot
reload swaps model and post-processing together.
"""

from __future__ import annotations

from typing import Sequence

from intentd.errors import IntentdError

from .analysis import Analysis, RequestOptions
from .artifact import ArtifactError
from .decode import Prediction
from .escalation import EscalationPolicy
from .model import Model
from .resolve import Resolver
from .respond import Responder, validate_templates


class Pipeline:
    def __init__(self, model: Model):
        self.model = model
        domain = model.artifact.domain
        ood_threshold = model.ood.threshold if model.ood is not None else None
        try:  # a bad domain config fails at load, naming the file, never at request time
            validate_templates(domain, model.labels.intents)
            self.resolver = Resolver(domain)
            self.responder = Responder(domain)
        except IntentdError as exc:
            raise ArtifactError(f"{model.artifact.root / 'domain.yaml'}: {exc}") from None
        self.escalation = EscalationPolicy(domain, ood_threshold)

    @property
    def version(self) -> str:
        return self.model.version

    def finish(self, text: str, prediction: Prediction, options: RequestOptions) -> Analysis:
        entities = self.resolver.resolve(text, prediction.entities, options, prediction.intent)
        escalation = self.escalation.decide(prediction)
        response = self.responder.respond(prediction.intent, entities, escalation, options)
        return Analysis(prediction, entities, escalation, response, self.model.version)

    def analyze(self, texts: Sequence[str], options: RequestOptions = RequestOptions()) -> list[Analysis]:
        """Unbatched convenience path for the CLI and evaluation; the server batches `Model` itself."""
        predictions = self.model.predict(texts, top_k=max(options.top_k, 2))
        return [self.finish(t, p, options) for t, p in zip(texts, predictions)]

    def warm_up(self) -> None:
        self.model.warm_up()
        self.resolver.warm_up()
        self.analyze(["move 200 dollars from checking to savings tomorrow"])
