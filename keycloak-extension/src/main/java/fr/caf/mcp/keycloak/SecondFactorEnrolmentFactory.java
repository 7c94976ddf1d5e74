package fr.caf.mcp.keycloak;

import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;

public class SecondFactorEnrolmentFactory extends McpAuthenticatorFactory {

    public static final String ID = "mcp-second-factor-enrolment";
    private static final SecondFactorEnrolment SINGLETON = new SecondFactorEnrolment();

    @Override
    public String getId() {
        return ID;
    }

    @Override
    public String getDisplayType() {
        return "Mon Compte Partenaire: second factor enrolment at first need";
    }

    @Override
    public String getHelpText() {
        return "A user without a second factor chooses TOTP or a security key; the required actions are queued, then recovery codes.";
    }

    @Override
    public Authenticator create(KeycloakSession session) {
        return SINGLETON;
    }

}
