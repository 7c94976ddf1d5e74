package fr.caf.mcp.keycloak;

import jakarta.ws.rs.core.Response;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.common.util.Time;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.UserModel;

/**
 * Runs right after the identifiant/password form, on every browser login.
 *
 * 1. R13: a provisional password is valid 24 hours. Provisioning writes its deadline in the user attribute
 *    mcp.provisional-expires-at (epoch seconds); while the user still has to choose a personal password
 *    (UPDATE_PASSWORD pending) and the deadline has passed, no session is opened and a French page says
 *    to contact the administrator. Keycloak has no such expiry of its own (issue 21436).
 * 2. R15 with versions: when a version of the usage rules was published after the user's last acceptance
 *    (attribute terms_and_conditions, epoch seconds), TERMS_AND_CONDITIONS is required again. The current
 *    version's publication time is this execution's config (usageRulesPublishedAt).
 */
public class FirstLoginGuard extends McpAuthenticator {

    static final String EXPIRES_ATTR = "mcp.provisional-expires-at";
    static final String TERMS_ATTR = "terms_and_conditions";
    static final String TERMS_ACTION = "TERMS_AND_CONDITIONS";
    static final String PUBLISHED_AT = "usageRulesPublishedAt";

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        UserModel user = context.getUser();
        if (user == null) {
            context.attempted();
            return;
        }
        if (provisionalPasswordExpired(user)) {
            context.getEvent().user(user).detail("reason", "provisional_password_expired");
            Response page = context.form().setError("mcpProvisionalPasswordExpired")
                    .createErrorPage(Response.Status.UNAUTHORIZED);
            context.failure(AuthenticationFlowError.ACCESS_DENIED, page, "provisional_password_expired",
                    "mcpProvisionalPasswordExpired");
            return;
        }
        long published = publishedAt(context.getAuthenticatorConfig());
        if (published > 0 && acceptedAt(user) < published) {
            user.addRequiredAction(TERMS_ACTION);
        }
        context.success();
    }

    static boolean provisionalPasswordExpired(UserModel user) {
        String deadline = user.getFirstAttribute(EXPIRES_ATTR);
        if (deadline == null || deadline.isBlank()) {
            return false;
        }
        boolean stillProvisional = user.getRequiredActionsStream().anyMatch("UPDATE_PASSWORD"::equals);
        try {
            return stillProvisional && Time.currentTime() > Long.parseLong(deadline.trim());
        } catch (NumberFormatException e) {
            return stillProvisional; // an unreadable deadline is treated as expired: fail closed
        }
    }

    public static long publishedAt(AuthenticatorConfigModel config) {
        if (config == null || config.getConfig() == null) {
            return 0;
        }
        try {
            return Long.parseLong(config.getConfig().getOrDefault(PUBLISHED_AT, "0").trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    public static long acceptedAt(UserModel user) {
        String v = user.getFirstAttribute(TERMS_ATTR);
        try {
            return v == null ? 0 : Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            return 0;
        }
    }

}
