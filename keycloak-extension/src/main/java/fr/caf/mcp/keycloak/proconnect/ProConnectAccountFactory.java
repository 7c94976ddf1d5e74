package fr.caf.mcp.keycloak.proconnect;

import fr.caf.mcp.keycloak.McpAuthenticatorFactory;
import java.util.List;
import org.keycloak.authentication.Authenticator;
import org.keycloak.models.KeycloakSession;
import org.keycloak.provider.ProviderConfigProperty;

/** The first-login step (match, never create) and the every-login step (check, level, usage rules). */
public abstract class ProConnectAccountFactory extends McpAuthenticatorFactory {

    abstract boolean firstLogin();

    @Override
    public Authenticator create(KeycloakSession session) {
        return new ProConnectAccount(firstLogin());
    }

    /** In the identity provider's first-broker-login flow, alone. */
    public static class Match extends ProConnectAccountFactory {
        @Override
        boolean firstLogin() {
            return true;
        }

        @Override
        public String getId() {
            return "mcp-proconnect-match";
        }

        @Override
        public String getDisplayType() {
            return "Mon Compte Partenaire: ProConnect identity to a managed account (e-mail and SIRET), never created";
        }

        @Override
        public String getHelpText() {
            return "Links a brokered identity only to an enabled account we manage whose e-mail and partner SIRET "
                    + "are the identity's; otherwise refuses, creating and linking nothing.";
        }

    }

    /** In the identity provider's post-broker-login flow, before the level-2 sub-flow. */
    public static class Check extends ProConnectAccountFactory {
        @Override
        boolean firstLogin() {
            return false;
        }

        @Override
        public String getId() {
            return "mcp-proconnect-check";
        }

        @Override
        public String getDisplayType() {
            return "Mon Compte Partenaire: ProConnect login checked again, level recorded";
        }

        @Override
        public String getHelpText() {
            return "On every ProConnect login: the account is still ours, enabled and of the asserted SIRET; records "
                    + "level 1, or 2 when the provider's acr or amr is one of the configured values.";
        }

        @Override
        public boolean isConfigurable() {
            return true;
        }

        @Override
        public List<ProviderConfigProperty> getConfigProperties() {
            return List.of(
                new ProviderConfigProperty(ProConnectAccount.MFA_ACR, "acr values proving a second factor",
                        "Comma-separated acr values of the provider that count as level 2.",
                        ProviderConfigProperty.STRING_TYPE, ""),
                new ProviderConfigProperty(ProConnectAccount.MFA_AMR, "amr values proving a second factor",
                        "Comma-separated amr values of the provider that count as level 2.",
                        ProviderConfigProperty.STRING_TYPE, ""));
        }
    }
}
