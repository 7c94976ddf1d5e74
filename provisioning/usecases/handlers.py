"""Which handler carries out which command: the one place that lists every change the registry accepts
(issue 26 §1). A handler is a function `(app, actor, command) -> answer`; `Provisioning.handle` looks it up
here, so a new command is a dataclass in commands.py, a function beside its kin, and one line below."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from provisioning.usecases import commands as c
from provisioning.usecases import imports, paperwork, partners, people, reviews

HANDLERS: dict[type[c.Command], Callable[[Any, Any, Any], Any]] = {
    c.CreatePartner: partners.create_partner,
    c.PrepareConvention: partners.prepare_convention,
    c.SetContract: partners.set_contract,
    c.TransitionConvention: partners.transition_convention,
    c.IssueDocuments: paperwork.issue_documents,
    c.SignDocuments: paperwork.sign_documents,
    c.SuspendService: partners.suspend_service,
    c.DeclareEquipment: partners.declare_equipment,
    c.RemoveEquipment: partners.remove_equipment,
    c.SetAssignments: partners.set_assignments,
    c.SetSites: partners.set_sites,
    c.SendBack: partners.send_back,
    c.CreateUser: people.create_user,
    c.SetMembership: people.set_membership,
    c.SetDelegate: people.set_delegate,
    c.SuspendUser: people.suspend_user,
    c.ReportLostCredentials: people.report_lost_credentials,
    c.ReissueCredentials: people.reissue_credentials,
    c.UnlockUser: people.unlock_user,
    c.ResetSecondFactor: people.reset_second_factor,
    c.UnlinkProConnect: people.unlink_proconnect,
    c.ImportUsers: imports.import_users,
    c.AdoptAccount: people.adopt_account,
    c.SuspendInactive: people.suspend_inactive,
    c.OpenReview: reviews.open_review,
    c.DecideReview: reviews.decide,
}
