package fr.caf.mcp.keycloak;

import jakarta.ws.rs.core.MultivaluedMap;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.models.UserModel;
import org.keycloak.models.credential.OTPCredentialModel;
import org.keycloak.models.credential.RecoveryAuthnCodesCredentialModel;
import org.keycloak.models.credential.WebAuthnCredentialModel;

/**
 * Issue 13, enrolment at first need: the last step of the level-2 (second factor) part of the browser flow.
 * A user who already holds a second factor has just used it (the conditional sub-flow before this one) and
 * passes. A user without one is asked, in French, to choose an authenticator application (TOTP: QR code or
 * the key as text) or a security key (WebAuthn); the matching required action is queued, then the one-time
 * recovery codes. Required actions run before any token is issued, and configuring TOTP or a security key
 * proves possession of it, so level 2 is not reached without a second factor. Recovery codes never saved (the
 * page left before confirming) are asked for again at the next level-2 login.
 */
public class SecondFactorEnrolment extends McpAuthenticator {

    static final String CONFIGURE_TOTP = "CONFIGURE_TOTP";
    static final String WEBAUTHN_REGISTER = "webauthn-register";
    static final String RECOVERY_CODES = "CONFIGURE_RECOVERY_AUTHN_CODES";
    static final String PAGE = "mcp-second-factor-choice.ftl";

    static boolean hasSecondFactor(UserModel user) {
        return user.credentialManager().getStoredCredentialsByTypeStream(OTPCredentialModel.TYPE).findAny().isPresent()
                || user.credentialManager().getStoredCredentialsByTypeStream(WebAuthnCredentialModel.TYPE_TWOFACTOR)
                        .findAny().isPresent();
    }

    @Override
    public void authenticate(AuthenticationFlowContext context) {
        UserModel user = context.getUser();
        if (user == null) {
            context.attempted();
            return;
        }
        if (hasSecondFactor(user)) {
            // issue 29: recovery codes are part of the enrolment. Keycloak stores them only once the person has
            // confirmed she saved them; one who left that page early is asked again at each level-2 login
            if (user.credentialManager().getStoredCredentialsByTypeStream(RecoveryAuthnCodesCredentialModel.TYPE)
                    .findAny().isEmpty()) {
                context.getAuthenticationSession().addRequiredAction(RECOVERY_CODES);
            }
            context.success();
            return;
        }
        context.challenge(context.form().createForm(PAGE));
    }

    @Override
    public void action(AuthenticationFlowContext context) {
        MultivaluedMap<String, String> form = context.getHttpRequest().getDecodedFormParameters();
        String choice = form.getFirst("choice");
        String action = "totp".equals(choice) ? CONFIGURE_TOTP : "webauthn".equals(choice) ? WEBAUTHN_REGISTER : null;
        if (action == null) {
            context.challenge(context.form().setError("mcpSecondFactorChoose").createForm(PAGE));
            return;
        }
        context.getEvent().detail("mcp_second_factor_enrolment", choice);
        context.getAuthenticationSession().addRequiredAction(action);
        context.getAuthenticationSession().addRequiredAction(RECOVERY_CODES);
        context.success();
    }

}
