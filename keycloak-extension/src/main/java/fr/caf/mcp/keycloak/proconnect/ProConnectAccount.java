package fr.caf.mcp.keycloak.proconnect;

import fr.caf.mcp.keycloak.FirstLoginGuard;
import fr.caf.mcp.keycloak.McpAuthenticator;
import jakarta.ws.rs.core.Response;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.authenticators.broker.AbstractIdpAuthenticator;
import org.keycloak.authentication.authenticators.broker.util.PostBrokerLoginConstants;
import org.keycloak.authentication.authenticators.broker.util.SerializedBrokeredIdentityContext;
import org.keycloak.authentication.authenticators.util.AcrStore;
import org.keycloak.credential.CredentialModel;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.PasswordCredentialModel;

/**
 * Issue 32: a ProConnect identity reaches one of our managed accounts, or nothing.
 *
 * <p>First login (the identity provider's first-broker-login flow, which holds only this step): the account is
 * found by the identity's e-mail, and taken only when it is ours (ownership marker), enabled, and its partner's
 * SIRET (user attribute "partner") is the SIRET ProConnect asserts. Anything else ends on a French page: no
 * account is created, nothing is linked, no session opens. Keycloak's own first-broker-login steps (create the
 * user if unique, link by e-mail after a confirmation) are never in that flow.
 *
 * <p>Every login (the post-broker-login flow): the same account checks again (the person may have been suspended
 * or moved since her link), the level reached is recorded (1, or 2 when the provider's acr or amr proves a
 * second factor, as this step's configuration says), and a newer version of the usage rules is required again.
 *
 * <p>E-mails are compared as ASCII only: Java's Unicode lower-casing maps U+212A KELVIN SIGN to "k" and
 * normalisation can merge distinct strings, so an address holding any other character never matches.
 */
public class ProConnectAccount extends McpAuthenticator {

    // brokered attributes written by the identity provider's mappers (realm-config), raw as the provider sent them
    static final String EMAIL = "mcp.proconnect.email";
    static final String SIRET = "mcp.proconnect.siret";
    static final String ACR = "mcp.proconnect.acr";
    static final String AMR = "mcp.proconnect.amr";
    static final String PARTNER_ATTR = "partner";
    static final String MANAGED_BY_ATTR = "mcp.managed-by";
    static final String MANAGED_BY = "mon-compte-partenaire";
    static final String GUARD_CONFIG = "mcp-first-login-guard";
    static final String MFA_ACR = "mfaAcrValues";
    static final String MFA_AMR = "mfaAmrValues";
    static final String LOA_MAP = "loa-map"; // Keycloak's note of the levels reached and when (AcrStore)
    static final String PROVISIONAL_EXPIRES_ATTR = "mcp.provisional-expires-at";

    private final boolean firstLogin;

    ProConnectAccount(boolean firstLogin) {
        this.firstLogin = firstLogin;
    }

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        String note = firstLogin ? AbstractIdpAuthenticator.BROKERED_CONTEXT_NOTE
                : PostBrokerLoginConstants.PBL_BROKERED_IDENTITY_CONTEXT;
        SerializedBrokeredIdentityContext identity =
                SerializedBrokeredIdentityContext.readFromAuthenticationSession(context.getAuthenticationSession(), note);
        if (identity == null) {
            refuse(context, null, "no_brokered_identity", "mcpProConnectNoMatch");
            return;
        }
        String email = asciiLower(identity.getFirstAttribute(EMAIL));
        String siret = siret(identity.getFirstAttribute(SIRET));
        UserModel user;
        if (firstLogin) {
            user = email == null ? null : context.getSession().users().getUserByEmail(context.getRealm(), email);
            if (user == null || !email.equals(user.getEmail())) {
                refuse(context, null, "proconnect_no_account", "mcpProConnectNoMatch");
                return;
            }
        } else {
            user = context.getUser();
        }
        // the same answer whether the e-mail is unknown or the SIRET another: nothing learnt of our accounts
        if (user == null || !MANAGED_BY.equals(user.getFirstAttribute(MANAGED_BY_ATTR))
                || siret == null || !siret.equals(user.getFirstAttribute(PARTNER_ATTR))) {
            refuse(context, user, "proconnect_other_partner", "mcpProConnectNoMatch");
            return;
        }
        if (!user.isEnabled()) {
            refuse(context, user, "proconnect_account_disabled", "mcpProConnectSuspended");
            return;
        }
        if (firstLogin && context.getSession().users().getFederatedIdentity(context.getRealm(), user,
                identity.getIdentityProviderId()) != null) {
            // already linked to another ProConnect identity (same e-mail, same SIRET): never taken over
            refuse(context, user, "proconnect_already_linked", "mcpProConnectAlreadyLinked");
            return;
        }
        context.setUser(user);
        if (!firstLogin) {
            int level = provesSecondFactor(context.getAuthenticatorConfig(), identity) ? 2 : 1;
            new AcrStore(context.getSession(), context.getAuthenticationSession()).setLevelAuthenticated(level);
            // kept with the SSO session as Keycloak's level conditions keep it (ConditionalLoaAuthenticator), so a
            // later request for level 2 (CDAP) finds level 1 done and asks the second factor only, never a password
            String levels = context.getAuthenticationSession().getAuthNote(LOA_MAP);
            if (levels != null) {
                context.getAuthenticationSession().setUserSessionNote(LOA_MAP, levels);
            }
            context.getEvent().detail("mcp_proconnect_level", Integer.toString(level));
            AuthenticatorConfigModel guard = context.getRealm().getAuthenticatorConfigByAlias(GUARD_CONFIG);
            long published = FirstLoginGuard.publishedAt(guard);
            if (published > 0 && FirstLoginGuard.acceptedAt(user) < published) {
                user.addRequiredAction("TERMS_AND_CONDITIONS");
            }
            forgetProvisionalPassword(user);
        }
        context.success();
    }

    /**
     * A provisional password still waiting to be replaced (mailed in clear, UPDATE_PASSWORD pending) dies at the
     * first ProConnect login: the person logs in with ProConnect and is not asked for a password she does not need;
     * « mot de passe oublié » gives her one later if she wants it.
     */
    static void forgetProvisionalPassword(UserModel user) {
        if (user.getRequiredActionsStream().noneMatch("UPDATE_PASSWORD"::equals)) {
            return;
        }
        List<String> ids = user.credentialManager().getStoredCredentialsByTypeStream(PasswordCredentialModel.TYPE)
                .map(CredentialModel::getId).toList();
        ids.forEach(id -> user.credentialManager().removeStoredCredentialById(id));
        user.removeRequiredAction("UPDATE_PASSWORD");
        user.removeAttribute(PROVISIONAL_EXPIRES_ATTR);
    }

    private static void refuse(AuthenticationFlowContext context, UserModel user, String reason, String message) {
        if (user != null) {
            context.getEvent().user(user);
        }
        context.getEvent().detail("reason", reason);
        Response page = context.form().setError(message).createErrorPage(Response.Status.FORBIDDEN);
        context.failure(AuthenticationFlowError.INVALID_USER, page, reason, message);
    }

    /** Lower-cased when every character is printable ASCII; null otherwise (never matched). */
    static String asciiLower(String raw) {
        if (raw == null || raw.isEmpty()) {
            return null;
        }
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c <= 0x20 || c >= 0x7f) {
                return null;
            }
        }
        return raw.toLowerCase(Locale.ROOT);
    }

    /** Fourteen ASCII digits, or null. */
    static String siret(String raw) {
        return raw != null && raw.matches("[0-9]{14}") ? raw : null;
    }

    static boolean provesSecondFactor(AuthenticatorConfigModel config, SerializedBrokeredIdentityContext identity) {
        Map<String, String> cfg = config == null || config.getConfig() == null ? Map.of() : config.getConfig();
        Set<String> acrs = words(cfg.get(MFA_ACR));
        Set<String> amrs = words(cfg.get(MFA_AMR));
        String acr = identity.getFirstAttribute(ACR);
        if (acr != null && acrs.contains(acr)) {
            return true;
        }
        List<String> amr = identity.getAttribute(AMR);
        return amr != null && amr.stream().anyMatch(amrs::contains);
    }

    static Set<String> words(String value) {
        return value == null ? Set.of() : Arrays.stream(value.split("[,\\s]+")).filter(s -> !s.isEmpty())
                .collect(Collectors.toSet());
    }

    @Override
    public boolean requiresUser() {
        return !firstLogin;
    }

}
