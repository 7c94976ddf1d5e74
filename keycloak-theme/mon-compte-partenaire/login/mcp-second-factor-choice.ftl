<#import "template.ftl" as layout>
<#import "buttons.ftl" as buttons>
<#-- Issue 13: the second factor at first need (keycloak-extension SecondFactorEnrolment). -->
<@layout.registrationLayout displayMessage=true; section>
    <#if section = "header">
        ${msg("mcpSecondFactorTitle")}
    <#elseif section = "form">
        <p id="mcp-second-factor-intro">${msg("mcpSecondFactorIntro")}</p>
        <form id="mcp-second-factor-form" class="${properties.kcFormClass!}" action="${url.loginAction}" method="post">
            <fieldset id="mcp-second-factor-choices">
                <legend>${msg("mcpSecondFactorLegend")}</legend>
                <div class="mcp-choice">
                    <input type="radio" id="mcp-choice-totp" name="choice" value="totp" checked>
                    <label for="mcp-choice-totp"><strong>${msg("mcpSecondFactorTotp")}</strong> — ${msg("mcpSecondFactorTotpHelp")}</label>
                </div>
                <div class="mcp-choice">
                    <input type="radio" id="mcp-choice-webauthn" name="choice" value="webauthn">
                    <label for="mcp-choice-webauthn"><strong>${msg("mcpSecondFactorWebauthn")}</strong> — ${msg("mcpSecondFactorWebauthnHelp")}</label>
                </div>
            </fieldset>
            <p id="mcp-second-factor-recovery">${msg("mcpSecondFactorRecovery")}</p>
            <@buttons.actionGroup>
                <@buttons.button id="mcp-second-factor-continue" name="continue" label="mcpSecondFactorContinue"/>
            </@buttons.actionGroup>
        </form>
    </#if>
</@layout.registrationLayout>
